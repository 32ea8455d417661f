// What TransactionService's handlers and its recovery sweeper share, built once per running
// instance: its settings, read and checked at start, with the TRANSACTION_CRASH_AT test
// hook they arm for this instance (settings.ts).
import type { ServiceDeps } from "../../platform/service.js";
import { settingsFromEnv, type TransactionSettings } from "./settings.js";

export interface TransactionContext extends ServiceDeps {
  settings: TransactionSettings;
}

export function transactionContext(deps: ServiceDeps): TransactionContext {
  return { ...deps, settings: settingsFromEnv(deps.cfg.maxDeadlineMs, deps.cfg.env) };
}
