// StationService: merchants' stations, live fuel availability and prices, price history,
// nearby search on a GiST index, and a live availability stream.
// Background work: the replica's LISTEN connection feeding the watch hub (real
// PostgreSQL); embedded (PGlite), writers feed the hub in-process instead.
import { StationService } from "../../gen/fuel/station/v1/station_pb.js";
import { log } from "../../platform/logger.js";
import type { ServiceDeps, ServiceModule } from "../../platform/service.js";
import { routes } from "./routes.js";
import { ChangeListener, WatchHub } from "./watch-hub.js";

const hubs = new WeakMap<ServiceDeps, WatchHub>();

/** One hub per service instance (routes and start receive the same deps). */
export function hubOf(deps: ServiceDeps): WatchHub {
  let hub = hubs.get(deps);
  if (!hub) {
    hub = new WatchHub(deps.pool, { notify: !deps.database.embedded });
    hubs.set(deps, hub);
  }
  return hub;
}

export const stationModule: ServiceModule = {
  name: "station",
  services: [StationService],
  routes: (router, deps) => routes(router, deps, hubOf(deps)),
  async start(deps) {
    const hub = hubOf(deps);
    let listener: ChangeListener | null = null;
    if (!deps.database.embedded) {
      // LISTEN holds a session: the direct URL, never a pooler in transaction mode.
      listener = new ChangeListener(deps.database.directUrl, hub);
      await listener.start();
    } else {
      log.info("station: embedded database, WatchAvailability fans out in-process (single process only)");
    }
    return async () => {
      await hub.close();
      await listener?.stop();
    };
  },
};
