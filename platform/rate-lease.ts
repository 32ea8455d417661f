// Leased rate-limit points. Every public call spends one point of its caller's budget
// in Redis, and that round trip was on every call (two per sale, one per search). A
// process now takes a slice of the budget at once — the points are counted in Redis
// when taken, so every replica still draws on one budget — and spends the slice
// locally until the window ends. What that costs: points a process leased but did not
// spend before the window ends are lost to the caller, so a caller with R busy replicas
// may be refused up to R × (slice − 1) calls early; the slice is 1 % of the budget, so
// at most 1 % per replica. A slice never outlives the window it was taken in.

/** Points taken per Redis round trip for a budget of `points`: 1 % of it, 1–50. */
export function leaseSize(points: number): number {
  return Math.max(1, Math.min(50, Math.floor(points / 100)));
}

/** Keys kept at most: callers beyond it wait for their budget in Redis again. */
export const LEASES_MAX = 10_000;

interface Lease {
  left: number;
  untilMs: number;
}

/** The slices this process holds, by budget and caller. Pure bookkeeping: no I/O. */
export class LeaseBook {
  private readonly book = new Map<string, Lease>();
  constructor(private readonly now: () => number = Date.now) {}

  /** Spends one leased point of `slot` if one is left in a live window. */
  take(slot: string): boolean {
    const lease = this.book.get(slot);
    if (!lease) return false;
    if (lease.left <= 0 || this.now() >= lease.untilMs) {
      this.book.delete(slot);
      return false;
    }
    lease.left--;
    return true;
  }

  /** Records `left` points of `slot` to spend until the window ends in `windowMs`. */
  grant(slot: string, left: number, windowMs: number): void {
    if (left <= 0) {
      this.book.delete(slot);
      return;
    }
    if (!this.book.has(slot) && this.book.size >= LEASES_MAX) this.evict();
    this.book.set(slot, { left, untilMs: this.now() + windowMs });
  }

  get size(): number {
    return this.book.size;
  }

  /** Drops ended windows; if none ended, the oldest entry (Maps iterate in insertion order). */
  private evict(): void {
    const now = this.now();
    for (const [slot, lease] of this.book) if (now >= lease.untilMs) this.book.delete(slot);
    if (this.book.size >= LEASES_MAX) this.book.delete(this.book.keys().next().value!);
  }
}
