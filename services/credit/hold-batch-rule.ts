// Which decided holds may be written by one statement, and what their lines must still be
// for every decision to stand together. Pure.
import type { LineFit } from "./ledger-store.js";

/**
 * A version no line ever has (versions start at 1): a fit carrying it stands only on its
 * counters. A version match vouches for the one decision made on that version, never for
 * another member's decision on the same line.
 */
export const COUNTERS_ONLY = -1n;

/**
 * The fits of `acc`'s members joined with `next`'s. A line only one of them decided on
 * keeps its own fit. A line both did must still have their needs, summed, available, with
 * nothing else changed: so both must have read it with the same status and controls, and
 * it must have no daily limits (those count the other holds, which the sum cannot show).
 * null: `next` cannot join this batch.
 */
export function joinFits(acc: ReadonlyMap<string, LineFit>, next: ReadonlyMap<string, LineFit>): Map<string, LineFit> | null {
  const out = new Map(acc);
  for (const [lineId, b] of next) {
    const a = out.get(lineId);
    if (!a) {
      out.set(lineId, b);
      continue;
    }
    if (a.dailyControls || b.dailyControls || a.status !== b.status || !sameBytes(a.controls, b.controls)) return null;
    out.set(lineId, { version: COUNTERS_ONLY, status: a.status, controls: a.controls, dailyControls: false, needs: a.needs + b.needs });
  }
  return out;
}

function sameBytes(a: Buffer | null, b: Buffer | null): boolean {
  if (a === null || b === null) return a === b;
  return a.equals(b);
}
