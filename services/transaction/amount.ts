// Money arithmetic of a fuel sale, in exactly one place. Integers only: amounts are minor
// units (bigint), volumes millilitres, prices minor units per litre.

/** Integer division rounded half to even (banker's rounding); `d` > 0. */
export function divRoundHalfEven(n: bigint, d: bigint): bigint {
  if (d <= 0n) throw new RangeError("divisor must be positive");
  const neg = n < 0n;
  const a = neg ? -n : n;
  let q = a / d;
  const r = a % d;
  const twice = 2n * r;
  if (twice > d || (twice === d && q % 2n === 1n)) q += 1n;
  return neg ? -q : q;
}

/** amount = price × ml / 1000, rounded half-even. THE rule for a metered sale. */
export function saleAmount(priceMinorPerLitre: bigint, volumeMl: bigint): bigint {
  if (priceMinorPerLitre < 0n || volumeMl < 0n) throw new RangeError("price and volume must be ≥ 0");
  return divRoundHalfEven(priceMinorPerLitre * volumeMl, 1000n);
}

/** approved amount at the posted price in millilitres, rounded down (the most to dispense). */
export function volumeFor(amount: bigint, priceMinorPerLitre: bigint): bigint {
  if (priceMinorPerLitre <= 0n || amount <= 0n) return 0n;
  return (amount * 1000n) / priceMinorPerLitre;
}
