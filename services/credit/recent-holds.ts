// Holds this instance placed, kept a short while so that their capture or void need not
// read them back (one round trip fewer a sale). Safe to be stale: a hold's lines, amount,
// currency and expiry never change, and the statement that resolves it re-checks its
// status, expiry and amount on the row itself — a hold resolved meanwhile makes that
// statement apply to nothing, and the locked way answers.
import type { HoldRow } from "./store.js";

/** Holds remembered at most; the oldest go first. */
export const RECENT_HOLDS_MAX = 4096;

export class RecentHolds {
  private readonly rows = new Map<string, HoldRow>();

  constructor(private readonly max = RECENT_HOLDS_MAX) {}

  remember(h: HoldRow): void {
    if (this.rows.size >= this.max) this.rows.delete(this.rows.keys().next().value!);
    this.rows.set(h.hold_id, h);
  }

  /** The hold as placed, once: a resolution is tried with it at most one time. */
  take(holdId: string): HoldRow | undefined {
    const h = this.rows.get(holdId);
    if (h) this.rows.delete(holdId);
    return h;
  }

  get size(): number {
    return this.rows.size;
  }
}
