// The one rounding rule of LoanService: half-even (banker's rounding) of an exact
// fraction of integers. Every fee and interest amount goes through `roundHalfEven`, so
// there is exactly one place where a fraction of a minor unit is decided.

/** round(num / den) with ties to the even neighbour; exact for any bigint (den ≠ 0). */
export function roundHalfEven(num: bigint, den: bigint): bigint {
  if (den === 0n) throw new RangeError("roundHalfEven: division by zero");
  if (den < 0n) {
    num = -num;
    den = -den;
  }
  const q = num / den; // truncates toward zero
  const r = num - q * den; // same sign as num
  const twice = 2n * (r < 0n ? -r : r);
  if (twice < den) return q;
  const away = num < 0n ? q - 1n : q + 1n;
  if (twice > den) return away;
  return q % 2n === 0n ? q : away;
}

/** `amount × bps / 10 000`, rounded half-even. */
export function applyBps(amount: bigint, bps: number): bigint {
  return roundHalfEven(amount * BigInt(bps), 10_000n);
}
