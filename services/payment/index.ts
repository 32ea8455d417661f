// PaymentService: payments repaying loans through a payment gateway, the gateway's signed
// webhooks and reconciliation. Without a configured gateway, bin/system.ts runs the
// simulated one (dev/payment-gateway/) as a process of its own.
// Background work: the repayment outbox relay (LoanService.ApplyRepayment) and the job
// asking the gateway about payments stuck in PENDING (PAYMENT_SYNC_INTERVAL_MS, default
// 60 s; PAYMENT_SYNC_MIN_AGE_SECONDS, default 600). Settings: see settings.ts.
import { PaymentService } from "../../gen/fuel/payment/v1/payment_pb.js";
import { serviceModule } from "../../platform/service.js";
import { paymentContext } from "./context.js";
import { routes } from "./routes.js";
import { startSyncJob } from "./sync.js";

export const paymentModule = serviceModule({
  name: "payment",
  services: [PaymentService],
  context: paymentContext,
  routes,
  async start(ctx) {
    ctx.relay.start();
    const stopSync = startSyncJob(ctx, ctx.gateway, ctx.relay, ctx.settings);
    return async () => {
      await stopSync();
      await ctx.relay.stop();
    };
  },
});
