// Loan calendar: the term runs in whole 24-hour days from disbursement (UTC instants, no
// time zones or business-day shifting), so due dates and day counts are exact.

export const DAY_MS = 86_400_000;

/** disburse_time + term_days × 24 h. */
export function dueTime(disburse: Date, termDays: number): Date {
  return new Date(disburse.getTime() + termDays * DAY_MS);
}

/** Whole 24-hour periods from `from` to `to`; 0 when `to` is not after `from`. */
export function fullDaysBetween(from: Date, to: Date): number {
  const ms = to.getTime() - from.getTime();
  return ms <= 0 ? 0 : Math.floor(ms / DAY_MS);
}

/** The instant `days` whole days before `at`. */
export function daysBefore(at: Date, days: number): Date {
  return new Date(at.getTime() - days * DAY_MS);
}
