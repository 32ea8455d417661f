// Registers NotificationService: one file per RPC (or small group), wired here.
import type { ConnectRouter } from "@connectrpc/connect";
import { NotificationService } from "../../gen/fuel/notification/v1/notification_pb.js";
import { outboxStatus } from "../../platform/outbox-status.js";
import type { HandlerDeps } from "./handler-deps.js";
import { listNotifications, markNotificationsRead, sendInApp } from "./in-app.js";
import { listDeliveries } from "./list-deliveries.js";
import { registerPushDevice } from "./register-push-device.js";
import { sendEmail } from "./send-email.js";
import { sendPush } from "./send-push.js";
import { sendSms } from "./send-sms.js";

export function routes(router: ConnectRouter, h: HandlerDeps): void {
  router.service(NotificationService, {
    sendSms: sendSms(h),
    sendEmail: sendEmail(h),
    sendPush: sendPush(h),
    sendInApp: sendInApp(h),
    registerPushDevice: registerPushDevice(h),
    listNotifications: listNotifications(h),
    markNotificationsRead: markNotificationsRead(h),
    listDeliveries: listDeliveries(h),
    getOutboxStatus: async () => ({ status: await outboxStatus(h.outbox) }),
  });
}
