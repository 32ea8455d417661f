// What TransactionService's handlers and its recovery sweeper share, built once per running
// instance: its settings, read and checked at start, with the TRANSACTION_CRASH_AT test
// hook they arm for this instance (settings.ts), and the outbox relay that delivers the
// notices a decline owes (outbox.ts).
import type { ServiceDeps } from "../../platform/service.js";
import { transactionRelay, type TransactionOutboxRelay } from "./outbox.js";
import { settingsFromEnv, type TransactionSettings } from "./settings.js";

export interface TransactionContext extends ServiceDeps {
  settings: TransactionSettings;
  relay: TransactionOutboxRelay;
}

export function transactionContext(deps: ServiceDeps): TransactionContext {
  return { ...deps, settings: settingsFromEnv(deps.cfg.maxDeadlineMs, deps.cfg.env), relay: transactionRelay(deps.pool, deps.mesh) };
}
