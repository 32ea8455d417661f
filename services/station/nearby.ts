// SearchNearby: ACTIVE stations within a radius, nearest (or cheapest) first, each with its
// great-circle distance and current availability, in keyset pages. The SQL (store.nearbyRaw)
// runs on the GiST index; "open now" is the opening-hours rule in each station's own time
// zone, applied here while reading rows in order until the page is full.
import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { NearbySort, SearchNearbyResponseSchema, type SearchNearbyRequest } from "../../gen/fuel/station/v1/station_pb.js";
import { invalidArgument } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { availabilityJsonToProto, openAt, stationJsonToProto } from "./convert.js";
import * as geo from "./geo.js";
import * as store from "./store.js";
import * as val from "./validation.js";

/** Rows read per round when "open now" filters some out. */
const OPEN_NOW_BATCH = 100;

function sortOf(s: NearbySort): "DISTANCE" | "PRICE" {
  if (s === NearbySort.UNSPECIFIED || s === NearbySort.DISTANCE) return "DISTANCE";
  if (s === NearbySort.PRICE) return "PRICE";
  throw invalidArgument("sort", "is not a known sort order");
}

/** Ties a page token to the search it came from. */
function searchKey(parts: unknown[]): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("base64url").slice(0, 16);
}

export const searchNearby = (deps: ServiceDeps) => async (req: SearchNearbyRequest) => {
  const center = geo.latLng("location", req.location);
  const radiusM = geo.radius("radius_m", req.radiusM);
  const fuelType = req.fuelType === 0 ? null : val.fuelType("fuel_type", req.fuelType);
  const sort = sortOf(req.sort);
  if (sort === "PRICE" && !fuelType) throw invalidArgument("fuel_type", "is required to sort by price");
  const limit = v.pageSize(req.pageSize);
  const key = searchKey([center.latitude, center.longitude, radiusM, fuelType, req.openNow, sort]);
  const token = v.decodePageToken(req.pageToken, ["q", "c", "id", "p"]);
  let after: store.NearbyQuery["after"] = null;
  if (token) {
    if (token.q !== key) throw invalidArgument("page_token", "belongs to a different search; repeat the same fields");
    if (!Number.isFinite(Number(token.c)) || token.c.trim() === "" || (sort === "PRICE" && !/^\d{1,19}$/.test(token.p))) {
      throw invalidArgument("page_token", "is not a token from a previous response");
    }
    after = { chord: token.c, id: v.uuid("page_token", token.id), price: sort === "PRICE" ? token.p : null };
  }

  const now = deps.now();
  const accepted: store.NearbyRaw[] = [];
  const batch = req.openNow ? Math.max(limit + 1, OPEN_NOW_BATCH) : limit + 1;
  for (;;) {
    const rows = await store.nearbyRaw(deps.pool, { center, radiusM, fuelType, sort, after, limit: batch, withFuels: true });
    for (const row of rows) {
      after = { chord: String(row.chord), id: row.station.station_id, price: row.price };
      if (req.openNow && !openAt(row.station, now)) continue;
      accepted.push(row);
      if (accepted.length > limit) break;
    }
    if (accepted.length > limit || rows.length < batch) break;
  }

  const page = accepted.slice(0, limit);
  const last = accepted.length > limit ? page[limit - 1]! : null;
  return create(SearchNearbyResponseSchema, {
    results: page.map((r) => ({
      station: stationJsonToProto(r.station),
      distanceM: Math.round(geo.chordToMetres(r.chord)),
      availability: availabilityJsonToProto(r.station, r.fuels ?? [], now),
    })),
    nextPageToken: last
      ? v.encodePageToken({ q: key, c: String(last.chord), id: last.station.station_id, p: last.price ?? "" })
      : "",
  });
};
