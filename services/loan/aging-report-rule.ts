// The aging report's buckets, pure: which bucket a loan's days past due fall in, and the
// totals per bucket and currency.
export interface BucketRange {
  minDays: number;
  /** Inclusive; null: no upper bound. */
  maxDays: number | null;
}

export const AGING_BUCKETS: readonly BucketRange[] = [
  { minDays: 0, maxDays: 0 },
  { minDays: 1, maxDays: 30 },
  { minDays: 31, maxDays: 60 },
  { minDays: 61, maxDays: 90 },
  { minDays: 91, maxDays: null },
];

export function bucketIndex(daysPastDue: number): number {
  if (!Number.isInteger(daysPastDue) || daysPastDue < 0) throw new Error(`days past due ${daysPastDue} is not a whole number of days`);
  return AGING_BUCKETS.findIndex((b) => daysPastDue >= b.minDays && (b.maxDays === null || daysPastDue <= b.maxDays));
}

export interface BucketTotals {
  loanCount: number;
  /** Outstanding in minor units, per currency. */
  outstandingMinor: Map<string, bigint>;
}

/** Accumulates loans into the buckets; each loan counted once, with what it has outstanding. */
export class AgingTotals {
  readonly buckets: BucketTotals[] = AGING_BUCKETS.map(() => ({ loanCount: 0, outstandingMinor: new Map() }));

  add(daysPastDue: number, currency: string, outstandingMinor: bigint): void {
    if (outstandingMinor <= 0n) throw new Error("a loan with nothing outstanding is in no bucket");
    const b = this.buckets[bucketIndex(daysPastDue)]!;
    b.loanCount++;
    b.outstandingMinor.set(currency, (b.outstandingMinor.get(currency) ?? 0n) + outstandingMinor);
  }
}
