// What NotificationService's handlers and delivery worker share, built once per running
// instance: its settings (settings.ts), the provider adapters they name and the worker.
import type { ServiceDeps } from "../../platform/service.js";
import { DEFAULT_RETRY_POLICY, validateRetryPolicy, type RetryPolicy } from "./backoff.js";
import { createEmailProvider } from "./providers/email.js";
import { createPushProvider } from "./providers/push.js";
import { createSmsProvider } from "./providers/sms.js";
import { PROVIDER_TIMEOUT_MS, type Providers } from "./providers/types.js";
import { notificationSettingsFromEnv, type NotificationSettings } from "./settings.js";
import { deliveryOutbox, type DeliveryOutbox } from "./worker.js";

export interface NotificationContext extends ServiceDeps {
  settings: NotificationSettings;
  providers: Providers;
  worker: DeliveryOutbox;
}

export interface NotificationOptions {
  retry?: Partial<RetryPolicy>;
  /** Poll interval of the outbox worker (ms). */
  pollMs?: number;
  /** Lease on a claimed delivery (ms); must exceed the provider timeout. */
  leaseMs?: number;
  batchSize?: number;
  providerTimeoutMs?: number;
  /** Replaces the adapters built from the settings (tests). */
  providers?: (deps: ServiceDeps) => Providers;
  random?: () => number;
}

/** Builds an instance's context; `opts` are the module's (checked once, when the module is made). */
export function notificationContext(opts: NotificationOptions = {}): (deps: ServiceDeps) => NotificationContext {
  const retry = validateRetryPolicy({ ...DEFAULT_RETRY_POLICY, ...opts.retry });
  const timeoutMs = opts.providerTimeoutMs ?? PROVIDER_TIMEOUT_MS;
  const leaseMs = opts.leaseMs ?? Math.max(60_000, timeoutMs * 4);
  return (deps) => {
    // Read even when a test brings its own adapters: a bad value stops every start alike.
    const settings = notificationSettingsFromEnv(deps.cfg.env);
    const providers = opts.providers?.(deps) ?? {
      sms: createSmsProvider(settings.smsApiUrl, timeoutMs),
      email: createEmailProvider(settings.smtpUrl, timeoutMs),
      push: createPushProvider(settings.pushApiUrl, timeoutMs),
    };
    const worker = deliveryOutbox({
      pool: deps.pool,
      providers,
      now: deps.now,
      retry,
      pollMs: opts.pollMs ?? 200,
      leaseMs,
      batchSize: Math.min(opts.batchSize ?? 50, 50),
      concurrency: 10,
      random: opts.random,
    });
    return { ...deps, settings, providers, worker };
  };
}
