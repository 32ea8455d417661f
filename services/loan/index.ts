// LoanService: loans created from settled fuel purchases, repayments (allocated fees →
// interest → principal, principal restored on the credit line), statements, aging, and
// the banks' loan products. Background work: the outbox relay (credit restores, borrower
// notices) and the periodic aging job (LOAN_AGING_INTERVAL_MS, default 15 min; 0 = off).
import { LoanService } from "../../gen/fuel/loan/v1/loan_pb.js";
import { serviceModule } from "../../platform/service.js";
import { startAgingJob } from "./aging.js";
import { loanContext } from "./context.js";
import { routes } from "./routes.js";

export const loanModule = serviceModule({
  name: "loan",
  services: [LoanService],
  context: loanContext,
  routes,
  async start(ctx) {
    ctx.relay.start();
    const stopAging = startAgingJob(ctx, ctx.settings.agingIntervalMs);
    return async () => {
      await stopAging();
      await ctx.relay.stop();
    };
  },
});
