// WatchAvailability: a server stream of one station's (or an area's) availability. It
// subscribes to this replica's hub first, then sends one SNAPSHOT per station, then an
// UPDATE per station whenever its pending changes are drained (coalesced per fuel type,
// latest wins), a HEARTBEAT after 15 s of silence, and ends with OK after 30 minutes.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, type HandlerContext } from "@connectrpc/connect";
import {
  WatchAvailabilityResponseSchema,
  WatchEventKind,
  type WatchAvailabilityRequest,
  type WatchAvailabilityResponse,
} from "../../gen/fuel/station/v1/station_pb.js";
import { invalidArgument, notFound, rpcError } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { byStation, fuelsToProto } from "./convert.js";
import * as geo from "./geo.js";
import * as store from "./store.js";
import * as val from "./validation.js";
import type { WatchHub } from "./watch-hub.js";

export const MAX_WATCHED_STATIONS = 500;

export interface WatchOptions {
  heartbeatMs: number;
  maxLifetimeMs: number;
}

const DEFAULTS: WatchOptions = { heartbeatMs: 15_000, maxLifetimeMs: 30 * 60_000 };

/** Ids of the stations a watch covers. */
async function targetStationIds(deps: ServiceDeps, req: WatchAvailabilityRequest): Promise<string[]> {
  switch (req.target.case) {
    case "stationId": {
      const row = await store.getStation(deps.pool, v.uuid("station_id", req.target.value));
      if (!row) throw notFound("station");
      return [row.station_id];
    }
    case "area": {
      const center = geo.latLng("area.center", req.target.value.center);
      const radiusM = geo.radius("area.radius_m", req.target.value.radiusM);
      const ids = await store.stationIdsInArea(deps.pool, center, radiusM, MAX_WATCHED_STATIONS + 1);
      if (ids.length > MAX_WATCHED_STATIONS) {
        throw invalidArgument("area", `covers more than ${MAX_WATCHED_STATIONS} stations; watch a smaller area`, "WATCH_AREA_TOO_LARGE");
      }
      return ids;
    }
    default:
      throw invalidArgument("target", "station_id or area is required");
  }
}

export const watchAvailability = (deps: ServiceDeps, hub: WatchHub, options: Partial<WatchOptions> = {}) =>
  async function* (req: WatchAvailabilityRequest, ctx: HandlerContext): AsyncGenerator<WatchAvailabilityResponse> {
    const opts = { ...DEFAULTS, ...options };
    const fuelTypes = req.fuelTypes.length > 0 ? new Set(req.fuelTypes.map((t, i) => val.fuelType(`fuel_types[${i}]`, t))) : null;
    const ids = await targetStationIds(deps, req);
    // Subscribe before reading the snapshot: a change committed in between is sent
    // twice rather than lost.
    const sub = hub.subscribe({ stationIds: new Set(ids), fuelTypes });
    try {
      const current = byStation(await store.fuelsOf(deps.pool, ids, fuelTypes ? [...fuelTypes] : null));
      const asOf = timestampFromDate(deps.now());
      for (const id of ids) {
        yield create(WatchAvailabilityResponseSchema, {
          kind: WatchEventKind.SNAPSHOT,
          stationId: id,
          fuels: fuelsToProto(current.get(id) ?? []),
          eventTime: asOf,
        });
      }
      const endAt = Date.now() + opts.maxLifetimeMs;
      for (;;) {
        const remaining = endAt - Date.now();
        if (remaining <= 0) return;
        const got = await sub.queue.wait(Math.min(opts.heartbeatMs, remaining), ctx.signal);
        if (got === "aborted" || got === "closed") return;
        if (got === "overflow") {
          throw rpcError(Code.ResourceExhausted, "SUBSCRIBER_TOO_SLOW", "the subscriber fell behind; resubscribe for a fresh snapshot");
        }
        if (got === "timeout") {
          if (Date.now() >= endAt) return;
          yield create(WatchAvailabilityResponseSchema, { kind: WatchEventKind.HEARTBEAT, eventTime: timestampFromDate(deps.now()) });
          continue;
        }
        for (const [stationId, rows] of byStation(sub.queue.drain())) {
          const latest = rows.reduce((t, r) => (r.update_time > t ? r.update_time : t), rows[0]!.update_time);
          yield create(WatchAvailabilityResponseSchema, {
            kind: WatchEventKind.UPDATE,
            stationId,
            fuels: fuelsToProto(rows),
            eventTime: timestampFromDate(latest),
          });
        }
      }
    } finally {
      hub.unsubscribe(sub);
    }
  };
