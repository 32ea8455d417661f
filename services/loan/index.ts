// LoanService: the contract is final (proto/fuel/loan/v1); the handlers arrive with their
// own issue. Until then every method answers UNIMPLEMENTED through the full platform
// chain (auth, policy, idempotency), so clients can already integrate against it.
import { LoanService } from "../../gen/fuel/loan/v1/loan_pb.js";
import type { ServiceModule } from "../../platform/service.js";

export const loanModule: ServiceModule = {
  name: "loan",
  services: [LoanService],
  routes: (router) => router.service(LoanService, {}),
};
