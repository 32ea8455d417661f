// TransactionService: QR codes and fuel transactions (authorize = hold, settle = capture
// then loan, void), with a persisted state machine (state.ts) that survives crashes.
// Background work: the recovery sweeper (TRANSACTION_SWEEP_MS, default 5 s; see settings.ts),
// which finishes every half-done sale within MAX_DEADLINE_MS + TRANSACTION_SWEEP_MS, and the
// outbox relay delivering the notices of declines (outbox.ts).
import { TransactionService } from "../../gen/fuel/transaction/v1/transaction_pb.js";
import { serviceModule } from "../../platform/service.js";
import { transactionContext } from "./context.js";
import { routes } from "./routes.js";
import { startSweeper } from "./sweeper.js";

export const transactionModule = serviceModule({
  name: "transaction",
  services: [TransactionService],
  context: transactionContext,
  routes: (router, ctx) => routes(router, ctx, ctx.settings, ctx.relay),
  async start(ctx) {
    ctx.relay.start();
    const stopSweeper = startSweeper(ctx, ctx.settings);
    return async () => {
      await stopSweeper();
      await ctx.relay.stop();
    };
  },
  // The sale path's one guard is its key row, claimed by the intent's statement (step.ts).
  guardedInPostgres: [TransactionService.method.authorize, TransactionService.method.settle, TransactionService.method.void]
    .map((m) => `${TransactionService.typeName}/${m.name}`),
});
