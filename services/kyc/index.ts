// KycService: driver, agency, bank and merchant profiles; KYC documents and reviews.
// Background work: the outbox relay that notifies owners of review decisions.
import { KycService } from "../../gen/fuel/kyc/v1/kyc_pb.js";
import type { ServiceModule } from "../../platform/service.js";
import { relayFor } from "./outbox.js";
import { routes } from "./routes.js";

export const kycModule: ServiceModule = {
  name: "kyc",
  services: [KycService],
  routes,
  async start(deps) {
    const relay = relayFor(deps);
    relay.start();
    return async () => await relay.stop();
  },
};
