// KycService's own settings, read once per instance from the environment the process was
// configured with; every bad value is named together and stops the start.
import { ConfigError, readSecret } from "../../platform/config.js";

type Env = Readonly<Record<string, string | undefined>>;

export interface KycSettings {
  /** AES-256-GCM key for national IDs and phones at rest (PII_ENCRYPTION_KEY; required in production). */
  piiEncryptionKey: Uint8Array;
  /** Where the local document store keeps KYC files (STORAGE_DIR; the store itself: storage/index.ts). */
  storageDir: string;
}

export function kycSettingsFromEnv(env: Env): KycSettings {
  const pii = readSecret(env, "PII_ENCRYPTION_KEY", env.NODE_ENV === "production");
  if (pii.problem) throw new ConfigError([pii.problem]);
  return { piiEncryptionKey: pii.value, storageDir: env.STORAGE_DIR || ".data/documents" };
}
