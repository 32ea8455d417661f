// Money, for the whole system, in one place. An amount is an integer count of the
// currency's minor units (bigint) with its ISO 4217 code; never a float, never a string
// on the way through a request. A fraction of a minor unit is decided by one rule only:
// half-even (banker's rounding), exact for any bigint, so a fee, an interest accrual and a
// metered sale round the same way and sums of many roundings do not drift one way.
// Text for people is money-text.ts.
import { create } from "@bufbuild/protobuf";
import { MoneySchema, type Money } from "../gen/fuel/common/v1/common_pb.js";
import { invalidArgument } from "./errors.js";
import * as v from "./validate.js";

/** An amount of money: minor units of `currency`. */
export interface Amount {
  readonly amountMinor: bigint;
  readonly currency: string;
}

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

/** `amountMinor × bps / 10 000`, rounded half-even (fees, interest). */
export function applyBps(amountMinor: bigint, bps: number): bigint {
  return roundHalfEven(amountMinor * BigInt(bps), 10_000n);
}

/** A metered sale: price per litre × millilitres / 1000, rounded half-even. */
export function saleAmount(priceMinorPerLitre: bigint, volumeMl: bigint): bigint {
  if (priceMinorPerLitre < 0n || volumeMl < 0n) throw new RangeError("price and volume must be ≥ 0");
  return roundHalfEven(priceMinorPerLitre * volumeMl, 1000n);
}

/**
 * What `volumeMl` costs at `priceMinorPerLitre`, rounded up: a hold for a volume must cover
 * it whole, and the metered sale of that volume (`saleAmount`, half-even) never costs more.
 */
export function amountToCover(priceMinorPerLitre: bigint, volumeMl: bigint): bigint {
  if (priceMinorPerLitre < 0n || volumeMl < 0n) throw new RangeError("price and volume must be ≥ 0");
  return (priceMinorPerLitre * volumeMl + 999n) / 1000n;
}

/**
 * The most millilitres `amountMinor` buys at `priceMinorPerLitre`: rounded down, because
 * a pump stopped at this volume must never cost more than was approved.
 */
export function volumeFor(amountMinor: bigint, priceMinorPerLitre: bigint): bigint {
  if (priceMinorPerLitre <= 0n || amountMinor <= 0n) return 0n;
  return (amountMinor * 1000n) / priceMinorPerLitre;
}

/**
 * A Money field of a request: present, a valid currency (equal to `currency` when given),
 * `amount_minor` ≥ `min` when given. Errors name the field.
 */
export function moneyIn(field: string, m: Money | undefined, opts: { min?: bigint; currency?: string } = {}): Amount {
  if (!m) throw invalidArgument(field, "is required");
  v.currency(`${field}.currency`, m.currency);
  if (opts.currency !== undefined && m.currency !== opts.currency) throw invalidArgument(`${field}.currency`, `must be ${opts.currency}`);
  if (opts.min !== undefined && m.amountMinor < opts.min) {
    throw invalidArgument(`${field}.amount_minor`, opts.min === 1n ? "must be greater than zero" : `must be at least ${opts.min}`);
  }
  return { amountMinor: m.amountMinor, currency: m.currency };
}

/** The wire form of an amount. */
export function toMoney(amountMinor: bigint, currency: string): Money {
  return create(MoneySchema, { amountMinor, currency });
}
