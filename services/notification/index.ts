// NotificationService: SMS, e-mail, push and in-app messages through a Postgres outbox,
// delivered by a worker with retries and backoff (see worker.ts), with a history.
import { NotificationService } from "../../gen/fuel/notification/v1/notification_pb.js";
import { serviceModule, type ServiceDeps, type ServiceModule } from "../../platform/service.js";
import { DEFAULT_RETRY_POLICY, validateRetryPolicy, type RetryPolicy } from "./backoff.js";
import { createEmailProvider } from "./providers/email.js";
import { createPushProvider } from "./providers/push.js";
import { createSmsProvider } from "./providers/sms.js";
import { PROVIDER_TIMEOUT_MS, type Providers } from "./providers/types.js";
import { routes } from "./routes.js";
import { deliveryOutbox, type DeliveryOutbox } from "./worker.js";

/** What the instance's handlers and worker share, built once: the providers and the delivery worker. */
export interface NotificationContext extends ServiceDeps {
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
  /** Replaces the adapters built from the configuration (tests). */
  providers?: (deps: ServiceDeps) => Providers;
  random?: () => number;
}

export function createNotificationModule(opts: NotificationOptions = {}): ServiceModule {
  const retry = validateRetryPolicy({ ...DEFAULT_RETRY_POLICY, ...opts.retry });
  const timeoutMs = opts.providerTimeoutMs ?? PROVIDER_TIMEOUT_MS;
  const leaseMs = opts.leaseMs ?? Math.max(60_000, timeoutMs * 4);
  return serviceModule<NotificationContext>({
    name: "notification",
    services: [NotificationService],
    context(deps) {
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
      return { ...deps, providers, worker };
    },
    // A send wakes the worker of its own instance.
    routes: (router, ctx) => routes(router, { deps: ctx, wake: () => ctx.worker.wake() }),
    async start({ worker, providers }) {
      worker.start();
      return async () => {
        await worker.stop();
        providers.email.close?.();
      };
    },
  });
}

export const notificationModule: ServiceModule = createNotificationModule();
