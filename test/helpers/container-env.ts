// Whether a container with this environment would get past start-up's checks: the shared
// configuration (platform/config.ts, every rule NODE_ENV=production adds) and then the
// settings each service it runs reads for itself (auth, credit, loan, transaction and payment
// settings, KYC settings and document storage, the notification providers' URLs), and the
// gateway's payment gateway name. Pure: nothing connects anywhere. Used by the deployment
// checks (docker-compose.yml, deploy/k8s).
import { ConfigError, loadConfig, type Config } from "../../platform/config.js";
import { authSettingsFromEnv } from "../../services/auth/settings.js";
import { settingsFromEnv as creditSettings } from "../../services/credit/common.js";
import { kycSettingsFromEnv } from "../../services/kyc/settings.js";
import { storageFromEnv } from "../../services/kyc/storage/index.js";
import { settingsFromEnv as loanSettings } from "../../services/loan/common.js";
import { createEmailProvider } from "../../services/notification/providers/email.js";
import { createPushProvider } from "../../services/notification/providers/push.js";
import { createSmsProvider } from "../../services/notification/providers/sms.js";
import { notificationSettingsFromEnv } from "../../services/notification/settings.js";
import { paymentGatewayName, paymentSettingsFromEnv } from "../../services/payment/settings.js";
import { settingsFromEnv as transactionSettings } from "../../services/transaction/settings.js";

type Env = Record<string, string>;

export interface StartupCheck {
  /** The configuration, when it loaded. */
  cfg: Config | undefined;
  /** Every message start-up would stop with; empty = it starts. */
  problems: string[];
}

/** Runs start-up's validation on `env` as the process in that container would. */
export function startupCheck(env: Env): StartupCheck {
  let cfg: Config;
  try {
    cfg = loadConfig(env);
  } catch (err) {
    return { cfg: undefined, problems: err instanceof ConfigError ? err.problems : [String(err)] };
  }
  const problems: string[] = [];
  const attempt = (what: string, fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      // A ConfigError's problems each name their variable already.
      if (err instanceof ConfigError) problems.push(...err.problems);
      else problems.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  if (cfg.gateway) attempt("payment gateway name", () => paymentGatewayName(env));
  for (const s of cfg.services) {
    if (s === "credit") attempt("credit settings", () => creditSettings(env));
    if (s === "loan") attempt("loan settings", () => loanSettings(env));
    if (s === "transaction") attempt("transaction settings", () => transactionSettings(cfg.maxDeadlineMs, env));
    if (s === "payment") attempt("payment settings", () => paymentSettingsFromEnv(env));
    if (s === "auth") attempt("auth settings", () => authSettingsFromEnv(env));
    if (s === "kyc") attempt("KYC settings and document storage", () => storageFromEnv(kycSettingsFromEnv(env).storageDir, env));
    if (s === "notification") {
      attempt("notification settings", () => {
        const providers = notificationSettingsFromEnv(env);
        attempt("SMS provider", () => createSmsProvider(providers.smsApiUrl));
        attempt("e-mail provider", () => createEmailProvider(providers.smtpUrl));
        attempt("push provider", () => createPushProvider(providers.pushApiUrl));
      });
    }
  }
  return { cfg, problems };
}
