import { KycService } from "../../gen/fuel/kyc/v1/kyc_pb.js";
import type { ServiceModule } from "../../platform/service.js";

export const kycModule: ServiceModule = {
  name: "kyc",
  services: [KycService],
  routes: (router) => router.service(KycService, {}),
};
