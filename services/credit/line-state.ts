// A line row as the hold rule sees it: status, availability, controls and today's totals.
import type { Pool, Tx } from "../../platform/db.js";
import { controlsOf } from "./convert.js";
import type { LineState } from "./hold-rule.js";
import { dailyTotals, type LineRow } from "./store.js";
import { localDay } from "../../platform/zoned-time.js";

/** Reads today's totals only when the line has daily limits (the hot path skips it). */
export async function lineState(db: Pool | Tx, row: LineRow, asParent: boolean, now: Date): Promise<LineState> {
  const controls = controlsOf(row);
  let daily = { amount: 0n, count: 0 };
  if (row.daily_controls && controls) {
    const { start, end } = localDay(now, controls.timeZone);
    daily = await dailyTotals(db, row.line_id, asParent, start, end);
  }
  return {
    status: row.status,
    currency: row.currency,
    available: row.limit_minor - row.held - row.used,
    controls,
    dailyAmount: daily.amount,
    dailyCount: daily.count,
  };
}
