// KycService: driver, agency, bank and merchant profiles; KYC documents and reviews.
// Background work: the outbox relay that notifies owners of review decisions.
import { KycService } from "../../gen/fuel/kyc/v1/kyc_pb.js";
import { serviceModule } from "../../platform/service.js";
import { kycContext } from "./context.js";
import { routes } from "./routes.js";

export const kycModule = serviceModule({
  name: "kyc",
  services: [KycService],
  context: kycContext,
  routes,
  async start({ relay }) {
    relay.start();
    return async () => await relay.stop();
  },
});
