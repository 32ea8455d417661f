// What StationService's handlers and its change listener share, built once per running
// instance: the watch hub that fans availability changes out to WatchAvailability streams.
import type { ServiceDeps } from "../../platform/service.js";
import { WatchHub } from "./watch-hub.js";

export interface StationContext extends ServiceDeps {
  hub: WatchHub;
}

/** Builds an instance's context. Embedded (PGlite) has no NOTIFY, so writers feed the hub in-process. */
export function stationContext(deps: ServiceDeps): StationContext {
  return { ...deps, hub: new WatchHub(deps.pool, { notify: !deps.database.embedded }) };
}
