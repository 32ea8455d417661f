// What KycService's handlers and background work share, built once per running instance:
// its settings, the cipher for national IDs, the document store its settings name, and the outbox relay
// that handlers wake after a decision commits.
import type { ServiceDeps } from "../../platform/service.js";
import { kycRelay, type OutboxRelay } from "./outbox.js";
import { PiiCipher } from "./pii.js";
import { kycSettingsFromEnv, type KycSettings } from "./settings.js";
import { storageFromEnv, type DocumentStorage } from "./storage/index.js";

export interface KycContext extends ServiceDeps {
  settings: KycSettings;
  pii: PiiCipher;
  storage: DocumentStorage;
  relay: OutboxRelay;
}

export function kycContext(deps: ServiceDeps): KycContext {
  const settings = kycSettingsFromEnv(deps.cfg.env);
  return {
    ...deps,
    settings,
    pii: new PiiCipher(settings.piiEncryptionKey),
    storage: storageFromEnv(settings.storageDir, deps.cfg.env),
    // The embedded database serves every pool through one PGlite session; poll it less
    // often and rely on the wake-up after each commit.
    relay: kycRelay(deps.pool, deps.mesh, deps.database.embedded ? { pollMs: 1_000 } : {}),
  };
}
