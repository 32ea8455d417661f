// Allocation of a repayment, in the contract's fixed order fees → interest → principal.
// Pure: each bucket takes what it is owed (never more), in order; what no bucket needs is
// returned as `unapplied`. So the parts are never negative, sum to `applied`, and
// applied + unapplied = amount.

export interface Buckets {
  fee: bigint;
  interest: bigint;
  principal: bigint;
}

export interface Allocation extends Buckets {
  /** fee + interest + principal. */
  applied: bigint;
  /** Part of the amount no bucket needed. */
  unapplied: bigint;
}

export function allocate(amount: bigint, owed: Buckets): Allocation {
  if (amount < 0n) throw new RangeError("allocate: negative amount");
  if (owed.fee < 0n || owed.interest < 0n || owed.principal < 0n) throw new RangeError("allocate: negative balance");
  let left = amount;
  const take = (due: bigint) => {
    const part = left < due ? left : due;
    left -= part;
    return part;
  };
  const fee = take(owed.fee);
  const interest = take(owed.interest);
  const principal = take(owed.principal);
  return { fee, interest, principal, applied: fee + interest + principal, unapplied: left };
}
