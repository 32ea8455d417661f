// CreateStation, UpdateStation, GetStation, ListStations: the stations themselves.
// Merchant admins write only their own merchant's stations; system admins any merchant's
// (the merchant must exist in KycService); everyone signed in reads.
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { Role } from "../../gen/fuel/common/v1/common_pb.js";
import { KycService } from "../../gen/fuel/kyc/v1/kyc_pb.js";
import {
  CreateStationResponseSchema,
  GetStationResponseSchema,
  ListStationsResponseSchema,
  StationStatus,
  UpdateStationResponseSchema,
  type CreateStationRequest,
  type GetStationRequest,
  type ListStationsRequest,
  type UpdateStationRequest,
} from "../../gen/fuel/station/v1/station_pb.js";
import { principalOf } from "../../platform/context.js";
import { withTx } from "../../platform/db.js";
import { failedPrecondition, invalidArgument, notFound, permissionDenied, rpcError } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { mayManage, writable } from "./access.js";
import { availabilityToProto, stationToProto, statusName } from "./convert.js";
import * as geo from "./geo.js";
import { hours } from "./opening-hours.js";
import * as store from "./store.js";
import * as val from "./validation.js";

/** Whose station a CreateStation makes: the admin's own merchant, or (system admin) the one named. */
async function merchantFor(deps: ServiceDeps, ctx: HandlerContext, requested: string): Promise<string> {
  const p = principalOf(ctx);
  if (p.role === Role.MERCHANT_ADMIN) {
    const own = p.merchantId.toLowerCase();
    if (own === "") throw permissionDenied("NO_MERCHANT_BINDING", "this merchant admin is bound to no merchant");
    if (requested !== "" && v.uuid("merchant_id", requested) !== own) {
      throw permissionDenied("NOT_OWN_MERCHANT", "a merchant admin creates stations only for their own merchant");
    }
    return own;
  }
  const merchantId = v.uuid("merchant_id", requested);
  try {
    await deps.mesh.client(KycService).getMerchant({ merchantId });
  } catch (err) {
    if (ConnectError.from(err).code === Code.NotFound) throw notFound("merchant");
    throw err;
  }
  return merchantId;
}

export const createStation = (deps: ServiceDeps) => async (req: CreateStationRequest, ctx: HandlerContext) => {
  const name = val.stationName("name", req.name);
  const address = val.address("address", req.address);
  const location = geo.latLng("location", req.location);
  const currency = v.currency("currency", req.currency);
  const openingHours = hours("opening_hours", req.openingHours);
  const pumps = val.pumps("pumps", req.pumps, null, randomUUID);
  const merchantId = await merchantFor(deps, ctx, req.merchantId);
  const now = deps.now();
  const row = await store.insertStation(deps.pool, {
    station_id: randomUUID(),
    merchant_id: merchantId,
    name,
    address,
    latitude: location.latitude,
    longitude: location.longitude,
    currency,
    time_zone: openingHours.timeZone,
    always_open: openingHours.alwaysOpen,
    periods: openingHours.periods,
    pumps,
    fuel_types: val.offeredFuelTypes(pumps),
    status: "ACTIVE",
    version: 1n,
    created_by: principalOf(ctx).subjectId,
    create_time: now,
    update_time: now,
  });
  return create(CreateStationResponseSchema, { station: stationToProto(row) });
};

const MASK_PATHS = new Set(["name", "address", "location", "opening_hours", "pumps", "status"]);

export const updateStation = (deps: ServiceDeps) => async (req: UpdateStationRequest, ctx: HandlerContext) => {
  const p = principalOf(ctx);
  const stationId = v.uuid("station_id", req.stationId);
  if (req.expectedVersion <= 0n) throw invalidArgument("expected_version", "is required: the station's current version");
  const paths = req.updateMask?.paths ?? [];
  if (paths.length === 0) throw invalidArgument("update_mask", "must name at least one field");
  for (const path of paths) {
    if (!MASK_PATHS.has(path)) throw invalidArgument("update_mask", `"${path}" is not a field that can be changed`);
  }
  const input = req.station;
  if (!input) throw invalidArgument("station", "is required");
  const row = await withTx(deps.pool, async (tx) => {
    const current = writable(await store.getStation(tx, stationId, true), (r) => mayManage(p, r));
    if (current.status === "PERMANENTLY_CLOSED") {
      throw failedPrecondition("STATION_PERMANENTLY_CLOSED", "the station is permanently closed and read-only");
    }
    if (current.version !== req.expectedVersion) {
      throw rpcError(Code.Aborted, "VERSION_MISMATCH", "the station changed since it was read; read it again", {
        current_version: String(current.version),
      });
    }
    const next: store.StationRow = { ...current, update_time: deps.now() };
    for (const path of new Set(paths)) {
      switch (path) {
        case "name":
          next.name = val.stationName("station.name", input.name);
          break;
        case "address":
          next.address = val.address("station.address", input.address);
          break;
        case "location": {
          const loc = geo.latLng("station.location", input.location);
          next.latitude = loc.latitude;
          next.longitude = loc.longitude;
          break;
        }
        case "opening_hours": {
          const h = hours("station.opening_hours", input.openingHours);
          next.time_zone = h.timeZone;
          next.always_open = h.alwaysOpen;
          next.periods = h.periods;
          break;
        }
        case "pumps":
          next.pumps = val.pumps("station.pumps", input.pumps, current.pumps, randomUUID);
          next.fuel_types = val.offeredFuelTypes(next.pumps);
          break;
        case "status": {
          const s = input.status === StationStatus.UNSPECIFIED ? null : statusName(input.status);
          if (!s) throw invalidArgument("station.status", "must be ACTIVE, TEMPORARILY_CLOSED or PERMANENTLY_CLOSED");
          next.status = s;
          break;
        }
      }
    }
    return await store.saveStation(tx, next);
  });
  return create(UpdateStationResponseSchema, { station: stationToProto(row) });
};

export const getStation = (deps: ServiceDeps) => async (req: GetStationRequest) => {
  const stationId = v.uuid("station_id", req.stationId);
  if (req.includeAvailability) {
    const row = await store.getStationWithFuels(deps.pool, stationId);
    if (!row) throw notFound("station");
    return create(GetStationResponseSchema, { station: stationToProto(row), availability: availabilityToProto(row, row.fuels, deps.now()) });
  }
  const row = await store.getStation(deps.pool, stationId);
  if (!row) throw notFound("station");
  return create(GetStationResponseSchema, { station: stationToProto(row) });
};

export const listStations = (deps: ServiceDeps) => async (req: ListStationsRequest) => {
  const merchantId = v.optionalUuid("merchant_id", req.merchantId);
  const statuses = req.statuses.map((s, i) => {
    const name = statusName(s);
    if (!name) throw invalidArgument(`statuses[${i}]`, "is not a station status");
    return name;
  });
  const limit = v.pageSize(req.pageSize);
  const token = v.decodePageToken(req.pageToken, ["name", "id"]);
  if (token) v.uuid("page_token", token.id);
  const rows = await store.listStations(deps.pool, { merchantId, statuses, after: token, limit: limit + 1 });
  const last = rows.length > limit ? rows[limit - 1]! : null;
  return create(ListStationsResponseSchema, {
    stations: rows.slice(0, limit).map(stationToProto),
    nextPageToken: last ? v.encodePageToken({ name: last.name, id: last.station_id }) : "",
  });
};
