// Registers StationService: one file per RPC or small group, wired here.
//   stations.ts      CreateStation, UpdateStation, GetStation, ListStations
//   availability.ts  UpdateFuelAvailability, GetAvailability, GetPriceHistory
//   nearby.ts        SearchNearby
//   fill-up.ts       FindFillUpStations                   (fill-up-sql.ts, fill-up-rule.ts)
//   watch.ts         WatchAvailability (fed by watch-hub.ts)
import type { ConnectRouter } from "@connectrpc/connect";
import { StationService } from "../../gen/fuel/station/v1/station_pb.js";
import type { ServiceDeps } from "../../platform/service.js";
import { getAvailability, getPriceHistory, updateFuelAvailability } from "./availability.js";
import { findFillUpStations } from "./fill-up.js";
import { searchNearby } from "./nearby.js";
import { createStation, getStation, listStations, updateStation } from "./stations.js";
import { watchAvailability } from "./watch.js";
import type { WatchHub } from "./watch-hub.js";

export function routes(router: ConnectRouter, deps: ServiceDeps, hub: WatchHub): void {
  router.service(StationService, {
    createStation: createStation(deps),
    updateStation: updateStation(deps),
    getStation: getStation(deps),
    listStations: listStations(deps),
    updateFuelAvailability: updateFuelAvailability(deps, hub),
    getAvailability: getAvailability(deps),
    getPriceHistory: getPriceHistory(deps),
    searchNearby: searchNearby(deps),
    findFillUpStations: findFillUpStations(deps),
    watchAvailability: watchAvailability(deps, hub),
  });
}
