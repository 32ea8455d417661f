// CreditService: the contract is final (proto/fuel/credit/v1); the handlers arrive with their
// own issue. Until then every method answers UNIMPLEMENTED through the full platform
// chain (auth, policy, idempotency), so clients can already integrate against it.
import { CreditService } from "../../gen/fuel/credit/v1/credit_pb.js";
import type { ServiceModule } from "../../platform/service.js";

export const creditModule: ServiceModule = {
  name: "credit",
  services: [CreditService],
  routes: (router) => router.service(CreditService, {}),
};
