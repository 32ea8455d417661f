// What LoanService's handlers and background work share, built once per running instance:
// its settings, the outbox relay (credit restores, borrower notices) that handlers wake
// after a commit that queued work for it, and the loan products as last seen (a
// settlement's loan is written without reading its product first).
import type { ServiceDeps } from "../../platform/service.js";
import { settingsFromEnv, type LoanSettings } from "./common.js";
import { loanRelay, type LoanOutboxRelay } from "./outbox.js";
import { ProductTerms } from "./product-terms.js";

export interface LoanContext extends ServiceDeps {
  settings: LoanSettings;
  relay: LoanOutboxRelay;
  products: ProductTerms;
}

export function loanContext(deps: ServiceDeps): LoanContext {
  const settings = settingsFromEnv(deps.cfg.env);
  return {
    ...deps,
    settings,
    relay: loanRelay(deps.pool, deps.mesh, { pollMs: settings.relayPollMs, baseBackoffMs: settings.relayBaseBackoffMs }),
    products: new ProductTerms(),
  };
}
