// In-app notifications: SendInApp stores one (and its SENT delivery entry, for the
// history); ListNotifications and MarkNotificationsRead act on the caller's own only.
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import {
  ListNotificationsResponseSchema,
  MarkNotificationsReadResponseSchema,
  SendInAppRequestSchema,
  SendInAppResponseSchema,
  type ListNotificationsRequest,
  type ListNotificationsResponse,
  type MarkNotificationsReadRequest,
  type MarkNotificationsReadResponse,
  type SendInAppRequest,
  type SendInAppResponse,
} from "../../gen/fuel/notification/v1/notification_pb.js";
import { callInfo, principalOf } from "../../platform/context.js";
import { invalidArgument } from "../../platform/errors.js";
import { encodePageToken, pageSize, text, uuid } from "../../platform/validate.js";
import { toNotification } from "./convert.js";
import type { HandlerDeps } from "./handler-deps.js";
import { idemOf, keyReused } from "./idempotency.js";
import { decodeCursor, isUuid } from "./paging.js";
import { kind, messageText } from "./rules.js";
import { insertNotification, listNotifications as listRows, markRead, unreadCount } from "./store.js";

export const MARK_READ_MAX = 100;

export function sendInApp({ deps }: HandlerDeps) {
  return async (req: SendInAppRequest, ctx: HandlerContext): Promise<SendInAppResponse> => {
    const userId = uuid("user_id", req.userId);
    const title = text("title", req.title, 1, 100);
    const body = messageText("body", req.body, 1, 2000);
    const k = kind("kind", req.kind);
    const idem = idemOf(ctx, SendInAppRequestSchema, req);
    const now = deps.now();
    const traceId = callInfo(ctx).traceId;
    const { row, created } = await insertNotification(deps.pool, { userId, title, body, kind: k, traceId, now }, idem);
    if (!created && row.request_hash !== idem.requestHash) keyReused();
    return create(SendInAppResponseSchema, { notification: toNotification(row) });
  };
}

export function listNotifications({ deps }: HandlerDeps) {
  return async (req: ListNotificationsRequest, ctx: HandlerContext): Promise<ListNotificationsResponse> => {
    const limit = pageSize(req.pageSize);
    const after = decodeCursor(req.pageToken);
    const userId = principalOf(ctx).subjectId;
    if (!isUuid(userId)) return create(ListNotificationsResponseSchema, {});
    const rows = await listRows(deps.pool, userId, { limit: limit + 1, after, unreadOnly: req.unreadOnly });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return create(ListNotificationsResponseSchema, {
      notifications: page.map(toNotification),
      nextPageToken: rows.length > limit && last ? encodePageToken({ t: last.create_time.toISOString(), id: last.notification_id }) : "",
      unreadCount: await unreadCount(deps.pool, userId),
    });
  };
}

export function markNotificationsRead({ deps }: HandlerDeps) {
  return async (req: MarkNotificationsReadRequest, ctx: HandlerContext): Promise<MarkNotificationsReadResponse> => {
    const ids = req.notificationIds;
    if (ids.length === 0) throw invalidArgument("notification_ids", "is required (1 to 100 ids)");
    if (ids.length > MARK_READ_MAX) throw invalidArgument("notification_ids", `must have at most ${MARK_READ_MAX} ids`);
    const clean = [...new Set(ids.map((id) => uuid("notification_ids", id)))];
    const userId = principalOf(ctx).subjectId;
    if (!isUuid(userId)) return create(MarkNotificationsReadResponseSchema, { markedCount: 0 });
    const marked = await markRead(deps.pool, userId, clean, deps.now());
    return create(MarkNotificationsReadResponseSchema, { markedCount: marked });
  };
}
