// Opening hours: validation of the weekly schedule and the "open now" rule, evaluated in
// the station's own IANA time zone. Pure: the instant is an argument (handlers pass
// deps.now()), so tests move time instead of waiting for it.
import { invalidArgument } from "../../platform/errors.js";
import { isTimeZone, weekdayMinute } from "../../platform/zoned-time.js";

export interface Period {
  /** ISO weekday, 1 = Monday … 7 = Sunday. */
  weekday: number;
  /** Minutes after local midnight, 0–1439. */
  open: number;
  /** Minutes after local midnight, 1–1440, exclusive; ≤ open runs into the next day. */
  close: number;
}

export interface Hours {
  timeZone: string;
  alwaysOpen: boolean;
  periods: Period[];
}

const MAX_PERIODS = 28;
const IANA = /^(?:UTC|[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+){1,2})$/;
/**
 * An IANA zone name the runtime knows, as given (ICU would canonicalise some names to
 * legacy aliases, e.g. Asia/Kolkata → Asia/Calcutta), or INVALID_ARGUMENT naming `field`.
 */
export function timeZone(field: string, value: string): string {
  if (!IANA.test(value) || !isTimeZone(value)) throw invalidArgument(field, value === "" ? "is required" : "is not a known IANA time zone, e.g. Africa/Lagos");
  return value;
}

export interface PeriodInput {
  weekday: number;
  openMinute: number;
  closeMinute: number;
}

/** Validates opening hours; `field` is e.g. `opening_hours`. */
export function hours(field: string, value: { timeZone: string; alwaysOpen: boolean; periods: PeriodInput[] } | undefined): Hours {
  if (!value) throw invalidArgument(field, "is required");
  const tz = timeZone(`${field}.time_zone`, value.timeZone);
  if (value.alwaysOpen && value.periods.length > 0) {
    throw invalidArgument(`${field}.periods`, "must be empty when always_open is set");
  }
  if (value.periods.length > MAX_PERIODS) throw invalidArgument(`${field}.periods`, `must have at most ${MAX_PERIODS} periods`);
  const periods = value.periods.map((p, i) => {
    const f = `${field}.periods[${i}]`;
    if (!Number.isInteger(p.weekday) || p.weekday < 1 || p.weekday > 7) throw invalidArgument(`${f}.weekday`, "must be a day from MONDAY to SUNDAY");
    if (!Number.isInteger(p.openMinute) || p.openMinute < 0 || p.openMinute > 1439) throw invalidArgument(`${f}.open_minute`, "must be from 0 to 1439");
    if (!Number.isInteger(p.closeMinute) || p.closeMinute < 1 || p.closeMinute > 1440) throw invalidArgument(`${f}.close_minute`, "must be from 1 to 1440");
    return { weekday: p.weekday, open: p.openMinute, close: p.closeMinute };
  });
  return { timeZone: tz, alwaysOpen: value.alwaysOpen, periods };
}

/** Whether a schedule is open at `at`. Periods are [open, close) in local wall-clock time. */
export function isOpenAt(h: Hours, at: Date): boolean {
  if (h.alwaysOpen) return true;
  if (h.periods.length === 0) return false;
  const now = weekdayMinute(at, h.timeZone);
  const yesterday = now.weekday === 1 ? 7 : now.weekday - 1;
  for (const p of h.periods) {
    if (p.close > p.open) {
      if (p.weekday === now.weekday && now.minute >= p.open && now.minute < p.close) return true;
    } else {
      // Runs past midnight: [open, 24:00) on its day, then [00:00, close) the next day.
      if (p.weekday === now.weekday && now.minute >= p.open) return true;
      if (p.weekday === yesterday && now.minute < p.close) return true;
    }
  }
  return false;
}
