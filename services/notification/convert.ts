// Rows → protobuf messages. Recipients are masked here, the one place responses are built.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  Channel,
  DeliverySchema,
  DeliveryStatus,
  NotificationSchema,
  PushPlatform,
  type Delivery,
  type Notification,
} from "../../gen/fuel/notification/v1/notification_pb.js";
import { maskEmail, maskPhone } from "../../platform/validate.js";
import type { ChannelName, DeliveryRow, NotificationRow, PlatformName, StatusName } from "./store.js";

export const CHANNEL_NAMES: Record<ChannelName, Channel> = {
  SMS: Channel.SMS,
  EMAIL: Channel.EMAIL,
  PUSH: Channel.PUSH,
  IN_APP: Channel.IN_APP,
};
export const STATUS_NAMES: Record<StatusName, DeliveryStatus> = {
  QUEUED: DeliveryStatus.QUEUED,
  SENT: DeliveryStatus.SENT,
  FAILED: DeliveryStatus.FAILED,
};
export const PLATFORM_NAMES: Record<number, PlatformName> = {
  [PushPlatform.ANDROID]: "ANDROID",
  [PushPlatform.IOS]: "IOS",
};

export function channelName(c: Channel): ChannelName {
  const found = (Object.entries(CHANNEL_NAMES) as [ChannelName, Channel][]).find(([, v]) => v === c);
  if (!found) throw new Error(`unknown channel ${c}`);
  return found[0];
}

export function statusName(s: DeliveryStatus): StatusName {
  const found = (Object.entries(STATUS_NAMES) as [StatusName, DeliveryStatus][]).find(([, v]) => v === s);
  if (!found) throw new Error(`unknown status ${s}`);
  return found[0];
}

function maskedRecipient(row: DeliveryRow): string {
  if (row.recipient === "") return "";
  if (row.channel === "SMS") return maskPhone(row.recipient);
  if (row.channel === "EMAIL") return maskEmail(row.recipient);
  return "";
}

export function toDelivery(row: DeliveryRow): Delivery {
  return create(DeliverySchema, {
    deliveryId: row.delivery_id,
    channel: CHANNEL_NAMES[row.channel],
    userId: row.user_id ?? "",
    recipientMasked: maskedRecipient(row),
    subject: row.subject,
    status: STATUS_NAMES[row.status],
    attempts: row.attempts,
    lastError: row.last_error,
    providerMessageId: row.provider_message_id,
    createTime: timestampFromDate(row.create_time),
    sentTime: row.sent_time ? timestampFromDate(row.sent_time) : undefined,
    nextAttemptTime: row.status === "QUEUED" && row.next_attempt_time ? timestampFromDate(row.next_attempt_time) : undefined,
  });
}

export function toNotification(row: NotificationRow): Notification {
  return create(NotificationSchema, {
    notificationId: row.notification_id,
    userId: row.user_id,
    title: row.title,
    body: row.body,
    kind: row.kind,
    readTime: row.read_time ? timestampFromDate(row.read_time) : undefined,
    createTime: timestampFromDate(row.create_time),
  });
}
