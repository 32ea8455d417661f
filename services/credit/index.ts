// CreditService: risk scoring, bank credit policies, credit lines (agency → driver
// hierarchy, spending controls), two-phase holds and the double-entry ledger.
// Background work: the hold expiry sweeper (CREDIT_EXPIRY_SWEEP_MS, default 30 s) and the
// continuous ledger audit (LEDGER_AUDIT_INTERVAL_MS, default 60 s); holds and the audit's
// result are on /metrics.
import { CreditService } from "../../gen/fuel/credit/v1/credit_pb.js";
import { serviceModule } from "../../platform/service.js";
import { creditContext } from "./context.js";
import { startExpirySweeper } from "./expire.js";
import { startLedgerAudit } from "./ledger-audit.js";
import { showCredit } from "./metrics.js";
import { routes } from "./routes.js";

export const creditModule = serviceModule({
  name: "credit",
  services: [CreditService],
  // Settings are read once when the service starts (CREDIT_HOLD_TTL_SECONDS, CREDIT_EXPIRY_SWEEP_MS,
  // CREDIT_EXPIRY_BATCH, CREDIT_RISK_HISTORY_PAGE_SIZE, CREDIT_RISK_HISTORY_MAX_LOANS,
  // LEDGER_AUDIT_INTERVAL_MS, LEDGER_AUDIT_CHUNK_LINES; see common.ts), and a bad value stops
  // the start with its name.
  context: creditContext,
  routes: (router, ctx) => routes(router, ctx, ctx.settings),
  async start(deps) {
    const { settings } = deps;
    const stopSweeper = startExpirySweeper(deps, settings);
    const stopAudit = startLedgerAudit(deps.pool, { intervalMs: settings.ledgerAuditIntervalMs, chunkLines: settings.ledgerAuditChunkLines });
    const unshow = showCredit(deps.samples);
    return async () => {
      unshow();
      await stopAudit();
      await stopSweeper();
    };
  },
});
