// SendSms: validates, writes the outbox row in its own transaction, returns it QUEUED.
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { SendSmsRequestSchema, SendSmsResponseSchema, type SendSmsRequest, type SendSmsResponse } from "../../gen/fuel/notification/v1/notification_pb.js";
import { callInfo } from "../../platform/context.js";
import { optionalUuid, phone } from "../../platform/validate.js";
import { toDelivery } from "./convert.js";
import type { HandlerDeps } from "./handler-deps.js";
import { idemOf, keyReused } from "./idempotency.js";
import { messageText } from "./rules.js";
import { insertDelivery } from "./store.js";

export const SMS_BODY_MAX = 1600;

export function sendSms({ deps, wake }: HandlerDeps) {
  return async (req: SendSmsRequest, ctx: HandlerContext): Promise<SendSmsResponse> => {
    const to = phone("to_phone", req.toPhone);
    const body = messageText("body", req.body, 1, SMS_BODY_MAX);
    const userId = optionalUuid("user_id", req.userId);
    const idem = idemOf(ctx, SendSmsRequestSchema, req);
    // One INSERT (its own transaction); a replayed key finds the first row instead.
    const { row, created } = await insertDelivery(
      deps.pool,
      { channel: "SMS", userId, recipient: to, subject: "", body, status: "QUEUED", traceId: callInfo(ctx).traceId, now: deps.now() },
      idem,
    );
    if (!created && row.request_hash !== idem.requestHash) keyReused();
    if (created) wake();
    return create(SendSmsResponseSchema, { delivery: toDelivery(row) });
  };
}
