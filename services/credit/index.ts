// CreditService: risk scoring, bank credit policies, credit lines (agency → driver
// hierarchy, spending controls), two-phase holds and the double-entry ledger.
// Background work: the hold expiry sweeper (CREDIT_EXPIRY_SWEEP_MS, default 30 s).
import { CreditService } from "../../gen/fuel/credit/v1/credit_pb.js";
import type { ServiceModule } from "../../platform/service.js";
import { settingsFromEnv } from "./common.js";
import { startExpirySweeper } from "./expire.js";
import { routes } from "./routes.js";

export const creditModule: ServiceModule = {
  name: "credit",
  services: [CreditService],
  // Settings are read when the service starts (CREDIT_HOLD_TTL_SECONDS, CREDIT_EXPIRY_SWEEP_MS,
  // CREDIT_EXPIRY_BATCH, CREDIT_RISK_HISTORY_PAGE_SIZE, CREDIT_RISK_HISTORY_MAX_LOANS; see
  // common.ts), and a bad value stops the start with its name.
  routes: (router, deps) => routes(router, deps, settingsFromEnv()),
  async start(deps) {
    return startExpirySweeper(deps, settingsFromEnv());
  },
};
