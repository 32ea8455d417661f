// The outside world in development (dev/), started when a service that needs it runs with
// none configured, outside production: the dev inbox for NotificationService's providers,
// and the simulated payment gateway (a process of its own, signing its webhooks with a
// secret made for this run) for PaymentService. Each is handed to its service as an
// operator hands over a real one, through the variables the service reads (SMS_API_URL,
// SMTP_URL, PUSH_API_URL; PAYMENT_GATEWAY_URL, PAYMENT_WEBHOOK_SECRETS): no service knows.
import { randomBytes } from "node:crypto";
import type { Config } from "../platform/config.js";
import { notificationSettingsFromEnv } from "../services/notification/settings.js";
import { paymentSettingsFromEnv } from "../services/payment/settings.js";
import { startDevInbox, type DevInbox } from "../dev/inbox.js";
import { startSimulatedGateway, type SimulatedGateway } from "../dev/payment-gateway/index.js";

export interface StandIns {
  devInbox: DevInbox | null;
  paymentGateway: SimulatedGateway | null;
  /** `cfg.env` with the stand-ins' variables set. */
  env: Readonly<Record<string, string | undefined>>;
  close(): Promise<void>;
}

/** `publicUrl`: where the simulated gateway posts its webhooks (the gateway's public address). */
export async function startStandIns(cfg: Config, publicUrl: string): Promise<StandIns> {
  const env = { ...cfg.env };
  let devInbox: DevInbox | null = null;
  let paymentGateway: SimulatedGateway | null = null;
  const close = async () => {
    await devInbox?.close();
    await paymentGateway?.close();
  };
  if (cfg.production) return { devInbox, paymentGateway, env, close };
  try {
    if (cfg.services.includes("notification") && cfg.devInboxPort >= 0) {
      const providers = notificationSettingsFromEnv(cfg.env);
      if (!providers.smsApiUrl && !providers.smtpUrl && !providers.pushApiUrl) {
        devInbox = await startDevInbox(cfg.devInboxPort, cfg.host);
        Object.assign(env, { SMS_API_URL: devInbox.smsUrl, SMTP_URL: devInbox.smtpUrl, PUSH_API_URL: devInbox.pushUrl });
      }
    }
    if (cfg.services.includes("payment")) {
      const payment = paymentSettingsFromEnv(cfg.env);
      const webhookSecret = payment.webhookSecrets[0] ?? randomBytes(24).toString("base64url");
      if (payment.webhookSecrets.length === 0) env.PAYMENT_WEBHOOK_SECRETS = webhookSecret;
      if (!payment.gatewayUrl) {
        paymentGateway = await startSimulatedGateway({ webhookUrl: `${publicUrl}/payments/webhook/reconcile`, webhookSecret, host: "127.0.0.1" });
        env.PAYMENT_GATEWAY_URL = paymentGateway.url;
      }
    }
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
  return { devInbox, paymentGateway, env, close };
}
