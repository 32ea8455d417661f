// PaymentService's own settings, read once per instance from the environment the process
// was configured with; every bad value is named together and stops the start. The
// gateway's name is also read by the public webhook endpoint (bin/system.ts hands it to
// the gateway), so a delivery is relayed as coming from the gateway payments are opened at.
import { ConfigError, readInt, readUrl, type Setting } from "../../platform/config.js";

type Env = Readonly<Record<string, string | undefined>>;

/** A payment gateway adapter's name, as configured and as a webhook names its sender. */
export const GATEWAY_NAME_PATTERN = /^[a-z0-9_-]{1,40}$/;
/** Shorter webhook secrets are guessable. */
const MIN_WEBHOOK_SECRET_CHARS = 16;

export interface PaymentSettings {
  /** How long a checkout stays open before the payment expires (PAYMENT_CHECKOUT_TTL_SECONDS). */
  checkoutTtlSeconds: number;
  /** How often the pending-payment job runs; 0 = never (PAYMENT_SYNC_INTERVAL_MS). */
  syncIntervalMs: number;
  /** The job checks payments PENDING at least this long (PAYMENT_SYNC_MIN_AGE_SECONDS). */
  syncMinAgeSeconds: number;
  /** Payments the job checks per run (PAYMENT_SYNC_BATCH). */
  syncBatch: number;
  /** Per-request timeout of gateway API calls (PAYMENT_GATEWAY_TIMEOUT_MS). */
  gatewayTimeoutMs: number;
  /** The gateway API's key (PAYMENT_GATEWAY_API_KEY), sent as a bearer token; none for the simulated gateway. */
  gatewayApiKey: string | undefined;
  /** The gateway API's base URL (PAYMENT_GATEWAY_URL); unset = no gateway (bin/system.ts runs the simulated one in development). */
  gatewayUrl: string | undefined;
  /** The gateway adapter's name (PAYMENT_GATEWAY_NAME): recorded on each payment, and the gateway a webhook is from. */
  gatewayName: string;
  /** HMAC secrets accepted on webhooks (PAYMENT_WEBHOOK_SECRETS, comma-separated: several during rotation; the first signs). */
  webhookSecrets: string[];
}

/** PAYMENT_GATEWAY_NAME, default "simulated"; a name the pattern refuses is the problem. */
function readGatewayName(env: Env): Setting<string> {
  const value = env.PAYMENT_GATEWAY_NAME || "simulated";
  return { value, problem: GATEWAY_NAME_PATTERN.test(value) ? undefined : "PAYMENT_GATEWAY_NAME must be 1 to 40 characters of a-z, 0-9, _ and -" };
}

/** The payment gateway's name alone, for the webhook endpoint; a bad one stops the start. */
export function paymentGatewayName(env: Env): string {
  const r = readGatewayName(env);
  if (r.problem) throw new ConfigError([r.problem]);
  return r.value;
}

export function paymentSettingsFromEnv(env: Env): PaymentSettings {
  const problems: string[] = [];
  const noted = <T>(r: Setting<T>): T => {
    if (r.problem) problems.push(r.problem);
    return r.value;
  };
  const int = (name: string, def: number, min: number, max: number) => noted(readInt(env, name, def, min, max));
  const webhookSecrets = (env.PAYMENT_WEBHOOK_SECRETS ?? "").split(",").map((x) => x.trim()).filter(Boolean);
  if (webhookSecrets.length === 0 && env.NODE_ENV === "production") {
    problems.push("PAYMENT_WEBHOOK_SECRETS is required when NODE_ENV=production and the payment service runs");
  }
  if (webhookSecrets.some((x) => x.length < MIN_WEBHOOK_SECRET_CHARS)) problems.push(`PAYMENT_WEBHOOK_SECRETS entries must be at least ${MIN_WEBHOOK_SECRET_CHARS} characters`);
  const settings: PaymentSettings = {
    checkoutTtlSeconds: int("PAYMENT_CHECKOUT_TTL_SECONDS", 24 * 3600, 60, 30 * 24 * 3600),
    syncIntervalMs: int("PAYMENT_SYNC_INTERVAL_MS", 60_000, 0, 24 * 3600_000),
    syncMinAgeSeconds: int("PAYMENT_SYNC_MIN_AGE_SECONDS", 600, 1, 86_400),
    syncBatch: int("PAYMENT_SYNC_BATCH", 100, 1, 1000),
    gatewayTimeoutMs: int("PAYMENT_GATEWAY_TIMEOUT_MS", 5_000, 100, 60_000),
    gatewayApiKey: env.PAYMENT_GATEWAY_API_KEY || undefined,
    gatewayUrl: noted(readUrl(env, "PAYMENT_GATEWAY_URL", ["http:", "https:"])),
    gatewayName: noted(readGatewayName(env)),
    webhookSecrets,
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return settings;
}
