// Which of a station's fuels a driver can buy now, and how many litres of each: in stock,
// allowed, priced in the line's currency, fresh (or flagged), and at least a millilitre
// at the station's price. Pure: the station's fuels as read, the line's allowances as
// CreditService answered them.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { FuelType } from "../../gen/fuel/common/v1/common_pb.js";
import { FillUpFuelSchema, type FillUpFuel } from "../../gen/fuel/station/v1/station_pb.js";
import { volumeFor } from "../../platform/money.js";
import { fuelTypeOf } from "./convert.js";
import type { FuelJson } from "./store.js";

export interface Allowance {
  /** Fuel types the line allows (and the request asks for); null: any. */
  fuelTypes: ReadonlySet<FuelType> | null;
  /** The line's currency: a price in another is no price for this driver. */
  currency: string;
  spendableMinor: bigint;
  /** Prices set before this are stale. */
  freshSinceMs: number;
  /** Stale prices are shown, flagged (else left out). */
  flagStale: boolean;
}

export function fillUpFuels(fuels: readonly FuelJson[], a: Allowance): FillUpFuel[] {
  const out: FillUpFuel[] = [];
  for (const f of fuels) {
    const type = fuelTypeOf(f.fuel_type);
    const price = BigInt(f.price_minor_per_litre);
    if (!f.in_stock || price <= 0n || (a.fuelTypes && !a.fuelTypes.has(type)) || f.currency !== a.currency) continue;
    const stale = f.price_update_ms < a.freshSinceMs;
    if (stale && !a.flagStale) continue;
    const volumeMl = volumeFor(a.spendableMinor, price);
    if (volumeMl <= 0n) continue;
    out.push(create(FillUpFuelSchema, {
      fuelType: type, priceMinorPerLitre: price, currency: f.currency, priceUpdateTime: timestampFromMs(f.price_update_ms),
      priceStale: stale, volumeMl,
    }));
  }
  return out;
}

/** Postgres bigint's largest value: a bound beyond it would not bind. */
const INT8_MAX = 2n ** 63n - 1n;

/**
 * The dearest price per litre at which `spendableMinor` still buys a millilitre
 * (volumeFor rounds down, so a dearer one buys none).
 */
export function maxPriceFor(spendableMinor: bigint): bigint {
  if (spendableMinor <= 0n) return 0n;
  const max = spendableMinor * 1000n;
  return max > INT8_MAX ? INT8_MAX : max;
}

/** Fuel type names for the SQL: the line's allowed types narrowed to the one asked for. */
export function fuelNames(allowed: readonly FuelType[], asked: FuelType | null): string[] | null {
  let types: FuelType[] | null = allowed.length > 0 ? [...allowed] : null;
  if (asked !== null) types = types === null || types.includes(asked) ? [asked] : [];
  return types === null ? null : types.map((t) => FuelType[t]!);
}
