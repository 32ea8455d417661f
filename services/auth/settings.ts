// AuthService's own settings, read once per instance from the environment the process
// was configured with; every bad value is named together and stops the start.
import { ConfigError, readSecret } from "../../platform/config.js";

type Env = Readonly<Record<string, string | undefined>>;

export interface AuthSettings {
  /** Keys the HMAC under which OTP codes are stored (OTP_HMAC_KEY; required in production). */
  otpHmacKey: Uint8Array;
  /** Access token life, 60–900 s (ACCESS_TOKEN_TTL_SECONDS). */
  accessTokenTtlSeconds: number;
  /** Refresh token family life (REFRESH_TOKEN_TTL_SECONDS). */
  refreshTokenTtlSeconds: number;
  /** How long after a refresh token is spent presenting it again is a retry, not a theft (REFRESH_RETRY_GRACE_SECONDS; 0: never). */
  refreshRetryGraceSeconds: number;
  /** Phone of the first SYSTEM_ADMIN, created at start (BOOTSTRAP_ADMIN_PHONE). */
  bootstrapAdminPhone: string | undefined;
}

export function authSettingsFromEnv(env: Env): AuthSettings {
  const problems: string[] = [];
  const int = (name: string, def: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === "") return def;
    const n = Number(raw);
    if (Number.isInteger(n) && n >= min && n <= max) return n;
    problems.push(`${name}=${JSON.stringify(raw)} must be an integer from ${min} to ${max}`);
    return def;
  };
  const otp = readSecret(env, "OTP_HMAC_KEY", env.NODE_ENV === "production");
  if (otp.problem) problems.push(otp.problem);
  const bootstrapAdminPhone = env.BOOTSTRAP_ADMIN_PHONE || undefined;
  if (bootstrapAdminPhone && !/^\+[1-9]\d{7,14}$/.test(bootstrapAdminPhone)) {
    problems.push("BOOTSTRAP_ADMIN_PHONE must be an E.164 phone number like +2348000000000");
  }
  const settings: AuthSettings = {
    otpHmacKey: otp.value,
    accessTokenTtlSeconds: int("ACCESS_TOKEN_TTL_SECONDS", 900, 60, 900),
    refreshTokenTtlSeconds: int("REFRESH_TOKEN_TTL_SECONDS", 30 * 24 * 3600, 3600, 90 * 24 * 3600),
    refreshRetryGraceSeconds: int("REFRESH_RETRY_GRACE_SECONDS", 30, 0, 300),
    bootstrapAdminPhone,
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return settings;
}
