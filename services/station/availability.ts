// UpdateFuelAvailability, GetAvailability, GetPriceHistory: live stock and prices per fuel
// type, with who changed what and when. A write publishes the change to watchers on every
// replica: NOTIFY in the same transaction (or, embedded, the in-process hub after commit).
import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext } from "@connectrpc/connect";
import {
  GetAvailabilityResponseSchema,
  GetPriceHistoryResponseSchema,
  UpdateFuelAvailabilityResponseSchema,
  type GetAvailabilityRequest,
  type GetPriceHistoryRequest,
  type UpdateFuelAvailabilityRequest,
} from "../../gen/fuel/station/v1/station_pb.js";
import { principalOf } from "../../platform/context.js";
import { withTx } from "../../platform/db.js";
import { failedPrecondition, invalidArgument, notFound } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { mayUpdateAvailability, writable } from "./access.js";
import { availabilityToProto, historyToProto, roleName } from "./convert.js";
import * as store from "./store.js";
import * as val from "./validation.js";
import type { WatchHub } from "./watch-hub.js";

const MAX_UPDATES = 16;

export const updateFuelAvailability = (deps: ServiceDeps, hub: WatchHub) => async (req: UpdateFuelAvailabilityRequest, ctx: HandlerContext) => {
  const p = principalOf(ctx);
  const stationId = v.uuid("station_id", req.stationId);
  if (req.updates.length === 0) throw invalidArgument("updates", "must have at least one fuel type");
  if (req.updates.length > MAX_UPDATES) throw invalidArgument("updates", `must have at most ${MAX_UPDATES} entries`);
  const seen = new Set<string>();
  const updates = req.updates.map((u, i) => {
    const f = `updates[${i}]`;
    const fuelType = val.fuelType(`${f}.fuel_type`, u.fuelType);
    if (seen.has(fuelType)) throw invalidArgument(`${f}.fuel_type`, "is listed twice");
    seen.add(fuelType);
    return {
      field: f,
      fuelType,
      inStock: u.inStock,
      levelMl: val.level(`${f}.level_ml`, u.levelMl),
      price: val.positiveAmount(`${f}.price_minor_per_litre`, u.priceMinorPerLitre),
      currency: v.currency(`${f}.currency`, u.currency),
    };
  });
  const now = deps.now();
  const { station, fuels } = await withTx(deps.pool, async (tx) => {
    // The station row lock orders concurrent writers of one station, so each history
    // entry's previous price is the one it replaced.
    const station = writable(await store.getStation(tx, stationId, true), (r) => mayUpdateAvailability(p, r));
    if (station.status === "PERMANENTLY_CLOSED") {
      throw failedPrecondition("STATION_PERMANENTLY_CLOSED", "the station is permanently closed and read-only");
    }
    for (const u of updates) {
      if (u.currency !== station.currency) throw invalidArgument(`${u.field}.currency`, `must be the station's currency ${station.currency}`);
      if (!station.fuel_types.includes(u.fuelType)) {
        throw failedPrecondition("FUEL_TYPE_NOT_OFFERED", `no pump of this station offers ${u.fuelType}`, { fuel_type: u.fuelType });
      }
    }
    const before = new Map((await store.fuelsOf(tx, [stationId])).map((f) => [f.fuel_type, f]));
    for (const u of updates) {
      const old = before.get(u.fuelType);
      const priceChanged = !old || old.price_minor_per_litre !== u.price;
      const changed = priceChanged || old.in_stock !== u.inStock || old.level_ml !== u.levelMl;
      const actor = { by: p.subjectId, role: roleName(p.role) };
      await store.upsertFuel(tx, {
        station_id: stationId,
        fuel_type: u.fuelType,
        in_stock: u.inStock,
        level_ml: u.levelMl,
        price_minor_per_litre: u.price,
        currency: u.currency,
        update_time: now,
        price_update_time: priceChanged ? now : old.price_update_time,
        updated_by: actor.by,
        updated_by_role: actor.role,
      });
      // A report that changes nothing only confirms freshness (update_time); it is not history.
      if (changed) {
        await store.appendHistory(tx, {
          station_id: stationId,
          fuel_type: u.fuelType,
          in_stock: u.inStock,
          level_ml: u.levelMl,
          price_minor_per_litre: u.price,
          previous_price_minor_per_litre: old?.price_minor_per_litre ?? 0n,
          currency: u.currency,
          changed_by: actor.by,
          changed_by_role: actor.role,
          change_time: now,
        });
      }
    }
    if (hub.notifiesThroughPostgres) await store.notifyChange(tx, stationId, updates.map((u) => u.fuelType));
    return { station, fuels: await store.fuelsOf(tx, [stationId]) };
  });
  if (!hub.notifiesThroughPostgres) hub.changed(stationId, updates.map((u) => u.fuelType));
  return create(UpdateFuelAvailabilityResponseSchema, { availability: availabilityToProto(station, fuels, now) });
};

export const getAvailability = (deps: ServiceDeps) => async (req: GetAvailabilityRequest) => {
  const stationId = v.uuid("station_id", req.stationId);
  const station = await store.getStation(deps.pool, stationId);
  if (!station) throw notFound("station");
  const fuels = await store.fuelsOf(deps.pool, [stationId]);
  return create(GetAvailabilityResponseSchema, { availability: availabilityToProto(station, fuels, deps.now()) });
};

export const getPriceHistory = (deps: ServiceDeps) => async (req: GetPriceHistoryRequest) => {
  const stationId = v.uuid("station_id", req.stationId);
  const fuelType = req.fuelType === 0 ? null : val.fuelType("fuel_type", req.fuelType);
  const start = req.startTime ? timestampDate(req.startTime) : null;
  const end = req.endTime ? timestampDate(req.endTime) : null;
  if (start && end && start > end) throw invalidArgument("start_time", "must not be after end_time");
  const limit = v.pageSize(req.pageSize);
  const token = v.decodePageToken(req.pageToken, ["time", "id"]);
  if (token && (!/^\d{1,19}$/.test(token.id) || Number.isNaN(Date.parse(token.time)))) {
    throw invalidArgument("page_token", "is not a token from a previous response");
  }
  if (!(await store.getStation(deps.pool, stationId))) throw notFound("station");
  const rows = await store.history(deps.pool, { stationId, fuelType, start, end, before: token, limit: limit + 1 });
  const last = rows.length > limit ? rows[limit - 1]! : null;
  return create(GetPriceHistoryResponseSchema, {
    entries: rows.slice(0, limit).map(historyToProto),
    nextPageToken: last ? v.encodePageToken({ time: last.change_time.toISOString(), id: String(last.entry_id) }) : "",
  });
};
