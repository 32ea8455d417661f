// LoanService: loans created from settled fuel purchases, repayments (allocated fees →
// interest → principal, principal restored on the credit line), statements, aging, and
// the banks' loan products. Background work: the outbox relay (credit restores, borrower
// notices) and the periodic aging job (LOAN_AGING_INTERVAL_MS, default 15 min; 0 = off).
import { LoanService } from "../../gen/fuel/loan/v1/loan_pb.js";
import type { ServiceModule } from "../../platform/service.js";
import { startAgingJob } from "./aging.js";
import { settingsFromEnv } from "./common.js";
import { routes } from "./routes.js";
import { relayFor } from "./runtime.js";

export const loanModule: ServiceModule = {
  name: "loan",
  services: [LoanService],
  routes,
  async start(deps) {
    const settings = settingsFromEnv();
    const relay = relayFor(deps);
    relay.start();
    const stopAging = startAgingJob(deps, settings.agingIntervalMs);
    return async () => {
      await stopAging();
      await relay.stop();
    };
  },
};
