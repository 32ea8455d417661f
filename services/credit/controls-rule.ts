// Fleet-card spending controls: validation of a new set, and the static checks of one
// purchase against a set (fuel type, station or merchant, allowed hours). Amount limits
// (per transaction, daily) are applied by hold-rule.ts together with the line balances.
// Pure: no I/O; declines are machine-readable DeclineReason values.
import { create } from "@bufbuild/protobuf";
import { FuelType } from "../../gen/fuel/common/v1/common_pb.js";
import {
  DeclineReason,
  SpendingControlsSchema,
  Weekday,
  type SpendingControls,
  type TimeWindow,
} from "../../gen/fuel/credit/v1/credit_line_pb.js";
import { invalidArgument } from "../../platform/errors.js";
import * as v from "../../platform/validate.js";
import { isTimeZone, localTime } from "../../platform/zoned-time.js";

export const MAX_STATIONS = 500;
export const MAX_MERCHANTS = 100;

/** Validates and normalises a complete set of controls for a line in `currency`. */
export function normalizeControls(c: SpendingControls | undefined, currency: string, field = "controls"): SpendingControls | null {
  if (!c) return null;
  const out = create(SpendingControlsSchema);
  for (const key of ["perTransactionMax", "dailyMax"] as const) {
    const m = c[key];
    if (!m) continue;
    const name = key === "perTransactionMax" ? "per_transaction_max" : "daily_max";
    if (m.currency !== currency) throw invalidArgument(`${field}.${name}.currency`, `must be the line's currency ${currency}`);
    if (m.amountMinor <= 0n) throw invalidArgument(`${field}.${name}.amount_minor`, "must be > 0");
    out[key] = m;
  }
  if (c.dailyTransactionCountMax !== 0) v.intRange(`${field}.daily_transaction_count_max`, c.dailyTransactionCountMax, 1, 1000);
  out.dailyTransactionCountMax = c.dailyTransactionCountMax;
  out.allowedFuelTypes = [...new Set(c.allowedFuelTypes.map((t) => v.enumValue(`${field}.allowed_fuel_types`, t, FuelType) as FuelType))];
  if (c.allowedStationIds.length > MAX_STATIONS) throw invalidArgument(`${field}.allowed_station_ids`, `at most ${MAX_STATIONS}`);
  if (c.allowedMerchantIds.length > MAX_MERCHANTS) throw invalidArgument(`${field}.allowed_merchant_ids`, `at most ${MAX_MERCHANTS}`);
  out.allowedStationIds = [...new Set(c.allowedStationIds.map((id) => v.uuid(`${field}.allowed_station_ids`, id)))];
  out.allowedMerchantIds = [...new Set(c.allowedMerchantIds.map((id) => v.uuid(`${field}.allowed_merchant_ids`, id)))];
  if (c.allowedHours.length > 50) throw invalidArgument(`${field}.allowed_hours`, "at most 50 windows");
  out.allowedHours = c.allowedHours.map((w, i) => {
    const f = `${field}.allowed_hours[${i}]`;
    v.intRange(`${f}.start_minute`, w.startMinute, 0, 1439);
    v.intRange(`${f}.end_minute`, w.endMinute, 1, 1440);
    const weekdays = [...new Set(w.weekdays.map((d) => v.enumValue(`${f}.weekdays`, d, Weekday) as Weekday))];
    return { ...w, weekdays };
  });
  const needsZone = out.allowedHours.length > 0 || !!out.dailyMax || out.dailyTransactionCountMax > 0;
  if (c.timeZone !== "" || needsZone) {
    if (c.timeZone === "") throw invalidArgument(`${field}.time_zone`, "is required with allowed_hours, daily_max or daily_transaction_count_max");
    if (!isTimeZone(c.timeZone)) throw invalidArgument(`${field}.time_zone`, "is not a known IANA time zone");
  }
  out.timeZone = c.timeZone;
  return isEmpty(out) ? null : out;
}

export function isEmpty(c: SpendingControls): boolean {
  return !c.perTransactionMax && !c.dailyMax && c.dailyTransactionCountMax === 0 && c.allowedFuelTypes.length === 0 &&
    c.allowedStationIds.length === 0 && c.allowedMerchantIds.length === 0 && c.allowedHours.length === 0;
}

/** Whether the controls need today's totals (daily amount or count). */
export function hasDailyLimits(c: SpendingControls | null): boolean {
  return !!c && (!!c.dailyMax || c.dailyTransactionCountMax > 0);
}

export interface Purchase {
  fuelType: FuelType;
  stationId: string;
  merchantId: string;
  at: Date;
}

/** The first static control the purchase breaks, or null. */
export function staticDecline(c: SpendingControls | null, p: Purchase): DeclineReason | null {
  if (!c) return null;
  if (c.allowedFuelTypes.length > 0 && !c.allowedFuelTypes.includes(p.fuelType)) return DeclineReason.FUEL_TYPE_NOT_ALLOWED;
  if (c.allowedStationIds.length > 0 || c.allowedMerchantIds.length > 0) {
    const ok = c.allowedStationIds.includes(p.stationId) || (p.merchantId !== "" && c.allowedMerchantIds.includes(p.merchantId));
    if (!ok) return DeclineReason.STATION_NOT_ALLOWED;
  }
  if (c.allowedHours.length > 0 && !withinHours(c.allowedHours, p.at, c.timeZone)) return DeclineReason.OUTSIDE_ALLOWED_HOURS;
  return null;
}

/** Whether `at` falls in any window, in `tz`. Windows are [start, end); end ≤ start runs past midnight. */
export function withinHours(windows: readonly TimeWindow[], at: Date, tz: string): boolean {
  const l = localTime(at, tz);
  const prevDay = l.weekday === 1 ? 7 : l.weekday - 1;
  return windows.some((w) => {
    const on = (d: number) => w.weekdays.length === 0 || w.weekdays.includes(d as Weekday);
    if (w.startMinute < w.endMinute) return on(l.weekday) && l.minute >= w.startMinute && l.minute < w.endMinute;
    return (on(l.weekday) && l.minute >= w.startMinute) || (on(prevDay) && l.minute < w.endMinute);
  });
}
