// Per-instance background machinery: one outbox relay per running service instance
// (routes and start receive the same deps object, so handlers can wake the relay that
// start() runs).
import type { ServiceDeps } from "../../platform/service.js";
import { settingsFromEnv } from "./common.js";
import { loanRelay, type LoanOutboxRelay } from "./outbox.js";

const relays = new WeakMap<object, LoanOutboxRelay>();

export function relayFor(deps: ServiceDeps): LoanOutboxRelay {
  let r = relays.get(deps);
  if (!r) {
    const s = settingsFromEnv();
    r = loanRelay(deps.pool, deps.mesh, { pollMs: s.relayPollMs, baseBackoffMs: s.relayBaseBackoffMs });
    relays.set(deps, r);
  }
  return r;
}
