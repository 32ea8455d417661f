// SendPush: queues one delivery for every registered device of the user (a snapshot of
// their tokens); a user without devices gets a FAILED entry with NO_DEVICES.
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { SendPushRequestSchema, SendPushResponseSchema, type SendPushRequest, type SendPushResponse } from "../../gen/fuel/notification/v1/notification_pb.js";
import { callInfo } from "../../platform/context.js";
import { text, uuid } from "../../platform/validate.js";
import { toDelivery } from "./convert.js";
import type { HandlerDeps } from "./handler-deps.js";
import { idemOf, keyReused } from "./idempotency.js";
import { messageText, pushData } from "./rules.js";
import { insertPushDelivery } from "./store.js";

export function sendPush({ deps, wake }: HandlerDeps) {
  return async (req: SendPushRequest, ctx: HandlerContext): Promise<SendPushResponse> => {
    const userId = uuid("user_id", req.userId);
    const title = text("title", req.title, 1, 100);
    const body = messageText("body", req.body, 1, 1000);
    const data = pushData("data", req.data);
    const idem = idemOf(ctx, SendPushRequestSchema, req);
    const { row, created } = await insertPushDelivery(deps.pool, { userId, title, body, data, traceId: callInfo(ctx).traceId, now: deps.now() }, idem);
    if (!created && row.request_hash !== idem.requestHash) keyReused();
    if (created && row.status === "QUEUED") wake();
    return create(SendPushResponseSchema, { delivery: toDelivery(row) });
  };
}
