// TransactionService: the contract is final (proto/fuel/transaction/v1); the handlers arrive with their
// own issue. Until then every method answers UNIMPLEMENTED through the full platform
// chain (auth, policy, idempotency), so clients can already integrate against it.
import { TransactionService } from "../../gen/fuel/transaction/v1/transaction_pb.js";
import type { ServiceModule } from "../../platform/service.js";

export const transactionModule: ServiceModule = {
  name: "transaction",
  services: [TransactionService],
  routes: (router) => router.service(TransactionService, {}),
};
