// NotificationService: SMS, e-mail, push and in-app messages through a Postgres outbox,
// delivered by a worker with retries and backoff (see worker.ts), with a history.
// Settings: the providers' URLs (SMS_API_URL, SMTP_URL, PUSH_API_URL; see settings.ts).
import { NotificationService } from "../../gen/fuel/notification/v1/notification_pb.js";
import { serviceModule, type ServiceModule } from "../../platform/service.js";
import { notificationContext, type NotificationContext, type NotificationOptions } from "./context.js";
import { routes } from "./routes.js";

export function createNotificationModule(opts: NotificationOptions = {}): ServiceModule {
  return serviceModule<NotificationContext>({
    name: "notification",
    services: [NotificationService],
    context: notificationContext(opts),
    // A send wakes the worker of its own instance.
    routes: (router, ctx) => routes(router, { deps: ctx, wake: () => ctx.worker.wake(), outbox: ctx.worker }),
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
