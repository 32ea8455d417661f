// FindFillUpStations: where this driver can buy fuel now. CreditService says what the
// driver can spend and where the line lets them (fuel types, stations, hours); one query
// on the spatial index finds the stations that sell such a fuel in stock, in the line's
// currency, at a fresh enough price (fill-up-sql.ts); "open now" is each station's own
// hours, applied while reading, and when it drops stations the same query reads on from
// where it stopped; each fuel comes with the litres the spendable amount buys at its price
// (fill-up-rule.ts).
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { MoneySchema, Role } from "../../gen/fuel/common/v1/common_pb.js";
import { CreditService, type GetAvailableCreditResponse } from "../../gen/fuel/credit/v1/credit_pb.js";
import {
  FindFillUpStationsResponseSchema,
  NearbySort,
  StalePrices,
  type FindFillUpStationsRequest,
} from "../../gen/fuel/station/v1/station_pb.js";
import { callInfo } from "../../platform/context.js";
import { invalidArgument, notFound, rpcError } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { fuelTypeOf, openAt, stationJsonToProto } from "./convert.js";
import { fillUpAfter, fillUpRows, type FillUpAfter } from "./fill-up-sql.js";
import { fillUpFuels, fuelNames, maxPriceFor } from "./fill-up-rule.js";
import * as geo from "./geo.js";
import * as val from "./validation.js";

const PAGE_DEFAULT = 20;
const PAGE_MAX = 50;
const PRICE_AGE_DEFAULT_S = 86_400;
const PRICE_AGE_MIN_S = 60;
const PRICE_AGE_MAX_S = 30 * 86_400;
/** First batch per result wanted: room for the closed stations "open now" drops. */
const ROWS_PER_RESULT = 4;
/** Rows per batch after the first, and rows read in all: the search's cost is bounded. */
const ROWS_BATCH = 200;
const ROWS_READ_MAX = 1_000;

/** The driver asked about: a driver themself; a system admin or a service names one. */
function driverOf(ctx: HandlerContext, requested: string): string {
  const p = callInfo(ctx).principal;
  if (p?.role === Role.DRIVER) {
    if (requested === "") return p.driverId;
    const id = v.uuid("driver_id", requested);
    if (id !== p.driverId.toLowerCase()) throw notFound("driver");
    return id;
  }
  if (requested === "") throw invalidArgument("driver_id", "is required");
  return v.uuid("driver_id", requested);
}

/** What the driver can spend and where, or why nothing can be bought (no line). */
async function allowanceOf(deps: ServiceDeps, driverId: string): Promise<GetAvailableCreditResponse | null> {
  try {
    return await deps.mesh.client(CreditService).getAvailableCredit({ driverId });
  } catch (err) {
    const ce = ConnectError.from(err);
    if (ce.code === Code.FailedPrecondition || ce.code === Code.NotFound) return null;
    throw rpcError(Code.Unavailable, "DEPENDENCY_UNAVAILABLE", `CreditService unavailable (${Code[ce.code]}); safe to retry`);
  }
}

export const findFillUpStations = (deps: ServiceDeps) => async (req: FindFillUpStationsRequest, ctx: HandlerContext) => {
  const center = geo.latLng("location", req.location);
  const radiusM = geo.radius("radius_m", req.radiusM);
  const driverId = driverOf(ctx, req.driverId);
  const asked = req.fuelType === 0 ? null : fuelTypeOf(val.fuelType("fuel_type", req.fuelType));
  const maxAgeS = req.maxPriceAgeSeconds === 0n ? PRICE_AGE_DEFAULT_S : Number(req.maxPriceAgeSeconds);
  if (maxAgeS < PRICE_AGE_MIN_S || maxAgeS > PRICE_AGE_MAX_S) throw invalidArgument("max_price_age_seconds", `must be ${PRICE_AGE_MIN_S}–${PRICE_AGE_MAX_S}`);
  if (!(req.stalePrices in StalePrices)) throw invalidArgument("stale_prices", "is not a known value");
  const flagStale = req.stalePrices === StalePrices.FLAG;
  if (!(req.sort in NearbySort)) throw invalidArgument("sort", "is not a known sort order");
  const byPrice = req.sort === NearbySort.PRICE;
  if (byPrice && asked === null) throw invalidArgument("fuel_type", "is required to sort by price");
  const limit = v.pageSize(req.pageSize, { defaultSize: PAGE_DEFAULT, maxSize: PAGE_MAX });

  const now = deps.now();
  const answer = (reason: string, a: GetAvailableCreditResponse | null) => create(FindFillUpStationsResponseSchema, {
    results: [], spendable: a?.spendable ?? create(MoneySchema, {}), cannotBuyReason: reason, asOfTime: timestampFromDate(now),
  });
  const a = await allowanceOf(deps, driverId);
  if (!a) return answer("NO_CREDIT_LINE", null);
  const spendable = a.spendable?.amountMinor ?? 0n;
  if (spendable <= 0n) return answer("NOTHING_SPENDABLE", a);
  if (!a.withinAllowedHours) return answer("OUTSIDE_ALLOWED_HOURS", a);
  const names = fuelNames(a.allowedFuelTypes, asked);
  if (names !== null && names.length === 0) return answer("FUEL_TYPE_NOT_ALLOWED", a);

  const freshSince = new Date(now.getTime() - maxAgeS * 1000);
  const currency = a.spendable?.currency ?? "";
  const query = {
    center, radiusM, fuelTypes: names, currency, maxPriceMinorPerLitre: maxPriceFor(spendable),
    scopes: a.stationScopes.map((s) => ({ stationIds: s.stationIds, merchantIds: s.merchantIds })),
    freshSince: flagStale ? null : freshSince,
    priceOf: byPrice ? names![0]! : null,
  };
  const allowance = {
    fuelTypes: names === null ? null : new Set(names.map(fuelTypeOf)),
    currency, spendableMinor: spendable, freshSinceMs: freshSince.getTime(), flagStale,
  };
  const results = [];
  let after: FillUpAfter | null = null;
  let read = 0;
  // Closed stations are dropped while reading, so read on in batches until the page is
  // full, the radius has no more, or ROWS_READ_MAX rows have been looked at.
  while (results.length < limit && read < ROWS_READ_MAX) {
    const batch = Math.min(after === null ? limit * ROWS_PER_RESULT : ROWS_BATCH, ROWS_READ_MAX - read);
    const rows = await fillUpRows(deps.pool, { ...query, after, limit: batch });
    read += rows.length;
    for (const row of rows) {
      if (results.length >= limit) break;
      const s = row.station;
      if (!openAt({ status: s.status, time_zone: s.time_zone, always_open: s.always_open, periods: s.periods }, now)) continue;
      const fuels = fillUpFuels(row.fuels ?? [], allowance);
      if (fuels.length === 0) continue;
      results.push({ station: stationJsonToProto(s), distanceM: Math.round(geo.chordToMetres(row.chord)), fuels });
    }
    if (rows.length < batch) break;
    after = fillUpAfter(rows, after, byPrice);
  }
  return create(FindFillUpStationsResponseSchema, { results, spendable: a.spendable, asOfTime: timestampFromDate(now) });
};
