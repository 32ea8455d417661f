// StationService: the contract is final (proto/fuel/station/v1); the handlers arrive with their
// own issue. Until then every method answers UNIMPLEMENTED through the full platform
// chain (auth, policy, idempotency), so clients can already integrate against it.
import { StationService } from "../../gen/fuel/station/v1/station_pb.js";
import type { ServiceModule } from "../../platform/service.js";

export const stationModule: ServiceModule = {
  name: "station",
  services: [StationService],
  routes: (router) => router.service(StationService, {}),
};
