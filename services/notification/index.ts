// NotificationService: SMS, e-mail, push and in-app messages through a Postgres outbox,
// delivered by a worker with retries and backoff (see worker.ts), with a history.
import { NotificationService } from "../../gen/fuel/notification/v1/notification_pb.js";
import type { ServiceDeps, ServiceModule } from "../../platform/service.js";
import { DEFAULT_RETRY_POLICY, validateRetryPolicy, type RetryPolicy } from "./backoff.js";
import { createEmailProvider } from "./providers/email.js";
import { createPushProvider } from "./providers/push.js";
import { createSmsProvider } from "./providers/sms.js";
import { PROVIDER_TIMEOUT_MS, type Providers } from "./providers/types.js";
import { routes } from "./routes.js";
import { deliveryOutbox, type DeliveryOutbox } from "./worker.js";

export interface NotificationOptions {
  retry?: Partial<RetryPolicy>;
  /** Poll interval of the outbox worker (ms). */
  pollMs?: number;
  /** Lease on a claimed delivery (ms); must exceed the provider timeout. */
  leaseMs?: number;
  batchSize?: number;
  providerTimeoutMs?: number;
  /** Replaces the adapters built from the configuration (tests). */
  providers?: (deps: ServiceDeps) => Providers;
  random?: () => number;
}

export function createNotificationModule(opts: NotificationOptions = {}): ServiceModule {
  const retry = validateRetryPolicy({ ...DEFAULT_RETRY_POLICY, ...opts.retry });
  const timeoutMs = opts.providerTimeoutMs ?? PROVIDER_TIMEOUT_MS;
  const leaseMs = opts.leaseMs ?? Math.max(60_000, timeoutMs * 4);
  // start() and routes() receive the same deps object: that is how a send wakes the worker.
  const workers = new WeakMap<ServiceDeps, DeliveryOutbox>();
  return {
    name: "notification",
    services: [NotificationService],
    routes: (router, deps) => routes(router, { deps, wake: () => workers.get(deps)?.wake() }),
    async start(deps) {
      const providers = opts.providers?.(deps) ?? {
        sms: createSmsProvider(deps.cfg.smsApiUrl, timeoutMs),
        email: createEmailProvider(deps.cfg.smtpUrl, timeoutMs),
        push: createPushProvider(deps.cfg.pushApiUrl, timeoutMs),
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
      workers.set(deps, worker);
      worker.start();
      return async () => {
        workers.delete(deps);
        await worker.stop();
        providers.email.close?.();
      };
    },
  };
}

export const notificationModule: ServiceModule = createNotificationModule();
