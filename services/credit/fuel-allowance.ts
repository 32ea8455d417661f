// How many litres of each fuel a driver can take at one station now: the spendable amount
// at each price the station offers, for the fuels the line's controls allow there. The
// rule is pure; `stationOffer` asks StationService for what the station sells.
import { Code, ConnectError } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import type { FuelType } from "../../gen/fuel/common/v1/common_pb.js";
import type { SpendingControls } from "../../gen/fuel/credit/v1/credit_line_pb.js";
import { FuelAllowanceSchema, StationScopeSchema, type FuelAllowance, type StationScope } from "../../gen/fuel/credit/v1/credit_pb.js";
import { StationService } from "../../gen/fuel/station/v1/station_pb.js";
import { notFound, rpcError } from "../../platform/errors.js";
import { volumeFor } from "../../platform/money.js";
import type { ServiceDeps } from "../../platform/service.js";
import { staticDecline, withinHours } from "./controls-rule.js";

/** One fuel as the station offers it now. */
export interface OfferedFuel {
  fuelType: FuelType;
  inStock: boolean;
  priceMinorPerLitre: bigint;
  currency: string;
  priceUpdateTime: Timestamp | undefined;
}

export interface StationOffer {
  stationId: string;
  merchantId: string;
  fuels: OfferedFuel[];
}

/**
 * The fuels of `offer` the driver can buy now with `spendableMinor`, each with the litres it
 * buys at the station's price: in stock, priced in the line's currency, and allowed by
 * every level's controls (`controls`: the driver's line, then the agency's) at `at`.
 */
export function fuelAllowances(spendableMinor: bigint, currency: string, controls: (SpendingControls | null)[], offer: StationOffer, at: Date): FuelAllowance[] {
  const out: FuelAllowance[] = [];
  for (const f of offer.fuels) {
    if (!f.inStock || f.priceMinorPerLitre <= 0n || (f.currency !== "" && f.currency !== currency)) continue;
    const purchase = { fuelType: f.fuelType, stationId: offer.stationId, merchantId: offer.merchantId, at };
    if (controls.some((c) => staticDecline(c, purchase) !== null)) continue;
    out.push(create(FuelAllowanceSchema, {
      fuelType: f.fuelType,
      priceMinorPerLitre: f.priceMinorPerLitre,
      volumeMl: volumeFor(spendableMinor, f.priceMinorPerLitre),
      priceUpdateTime: f.priceUpdateTime,
    }));
  }
  return out;
}

/** What the station sells now, from StationService. */
export async function stationOffer(deps: ServiceDeps, stationId: string): Promise<StationOffer> {
  try {
    const r = await deps.mesh.client(StationService).getStation({ stationId, includeAvailability: true });
    return {
      stationId,
      merchantId: r.station?.merchantId ?? "",
      fuels: (r.availability?.fuels ?? []).map((f) => ({
        fuelType: f.fuelType, inStock: f.inStock, priceMinorPerLitre: f.priceMinorPerLitre,
        currency: f.currency || r.station?.currency || "", priceUpdateTime: f.priceUpdateTime,
      })),
    };
  } catch (err) {
    const ce = ConnectError.from(err);
    if (ce.code === Code.NotFound || ce.code === Code.InvalidArgument) throw notFound("station", "STATION_NOT_FOUND");
    throw rpcError(Code.Unavailable, "DEPENDENCY_UNAVAILABLE", `StationService unavailable (${Code[ce.code]}); safe to retry`);
  }
}

/** Where every level's controls let the driver buy, at `at`: fuel types, stations, hours. */
export function spendingScope(controls: (SpendingControls | null)[], at: Date): { fuelTypes: FuelType[]; stations: StationScope[]; withinHours: boolean } {
  let fuelTypes: FuelType[] | null = null;
  const stations: StationScope[] = [];
  let withinHours = true;
  for (const c of controls) {
    if (!c) continue;
    if (c.allowedFuelTypes.length > 0) fuelTypes = fuelTypes === null ? [...c.allowedFuelTypes] : fuelTypes.filter((f) => c.allowedFuelTypes.includes(f));
    if (c.allowedStationIds.length > 0 || c.allowedMerchantIds.length > 0) {
      stations.push(create(StationScopeSchema, { stationIds: c.allowedStationIds, merchantIds: c.allowedMerchantIds }));
    }
    if (c.allowedHours.length > 0 && !withinHours_(c, at)) withinHours = false;
  }
  // Two levels that allow no fuel in common allow none: one impossible type says so.
  return { fuelTypes: fuelTypes ?? [], stations, withinHours: withinHours && (fuelTypes === null || fuelTypes.length > 0) };
}

const withinHours_ = (c: SpendingControls, at: Date) => withinHours(c.allowedHours, at, c.timeZone);
