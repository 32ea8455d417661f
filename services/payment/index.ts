// PaymentService: the contract is final (proto/fuel/payment/v1); the handlers arrive with their
// own issue. Until then every method answers UNIMPLEMENTED through the full platform
// chain (auth, policy, idempotency), so clients can already integrate against it.
import { PaymentService } from "../../gen/fuel/payment/v1/payment_pb.js";
import type { ServiceModule } from "../../platform/service.js";

export const paymentModule: ServiceModule = {
  name: "payment",
  services: [PaymentService],
  routes: (router) => router.service(PaymentService, {}),
};
