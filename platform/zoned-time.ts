// Local time in an IANA time zone: a station's opening hours, a credit line's allowed
// hours and daily limits. Pure: no I/O.
const formats = new Map<string, Intl.DateTimeFormat>();
/** Zones are a short list in practice; past this many, formatters are built per call. */
const MAX_ZONES = 1000;

function format(tz: string): Intl.DateTimeFormat {
  let f = formats.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: tz, hourCycle: "h23", weekday: "short",
      year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric",
    });
    if (formats.size < MAX_ZONES) formats.set(tz, f);
  }
  return f;
}

export function isTimeZone(tz: string): boolean {
  if (tz === "" || tz.length > 64) return false;
  try {
    format(tz);
    return true;
  } catch {
    return false;
  }
}

const WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

export interface LocalTime {
  year: number;
  month: number;
  day: number;
  /** ISO weekday, Monday = 1 … Sunday = 7. */
  weekday: number;
  /** Minutes after local midnight. */
  minute: number;
  second: number;
}

export function localTime(at: Date, tz: string): LocalTime {
  const parts: Record<string, string> = {};
  for (const p of format(tz).formatToParts(at)) parts[p.type] = p.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    weekday: WEEKDAYS[parts.weekday!] ?? 0,
    minute: Number(parts.hour) * 60 + Number(parts.minute),
    second: Number(parts.second),
  };
}

export interface WeekdayMinute {
  /** ISO weekday, Monday = 1 … Sunday = 7. */
  readonly weekday: number;
  /** Minutes after local midnight. */
  readonly minute: number;
}

// The last answer per zone. A nearby page asks for the same zone and minute once per
// station with opening hours, and formatToParts costs ~13 µs a call; the local weekday and
// minute depend only on the UTC minute (zone offsets are whole minutes since 1972).
const lastByZone = new Map<string, { epochMinute: number; value: WeekdayMinute }>();

/** Local ISO weekday and minute of the day of `at` in `tz` (throws on an unknown zone). */
export function weekdayMinute(at: Date, tz: string): WeekdayMinute {
  const epochMinute = Math.floor(at.getTime() / 60_000);
  const hit = lastByZone.get(tz);
  if (hit && hit.epochMinute === epochMinute) return hit.value;
  const l = localTime(at, tz);
  const value = Object.freeze({ weekday: l.weekday, minute: l.minute });
  if (hit || lastByZone.size < MAX_ZONES) lastByZone.set(tz, { epochMinute, value });
  return value;
}

/** UTC offset of `tz` at `at`, in ms (local = UTC + offset). */
function offsetMs(at: Date, tz: string): number {
  const l = localTime(at, tz);
  const asUtc = Date.UTC(l.year, l.month - 1, l.day, Math.floor(l.minute / 60), l.minute % 60, l.second);
  return asUtc - Math.floor(at.getTime() / 1000) * 1000;
}

function localMidnightUtc(year: number, month: number, day: number, tz: string): Date {
  const naive = Date.UTC(year, month - 1, day);
  // Two passes settle DST changes around midnight.
  let guess = naive - offsetMs(new Date(naive), tz);
  guess = naive - offsetMs(new Date(guess), tz);
  return new Date(guess);
}

/** [start, end) of the local calendar day containing `at`, as UTC instants. */
export function localDay(at: Date, tz: string): { start: Date; end: Date } {
  const l = localTime(at, tz);
  const start = localMidnightUtc(l.year, l.month, l.day, tz);
  const next = new Date(Date.UTC(l.year, l.month - 1, l.day + 1));
  const end = localMidnightUtc(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), tz);
  return { start, end };
}
