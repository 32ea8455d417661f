// SendEmail: validates, writes the outbox row in its own transaction, returns it QUEUED.
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { SendEmailRequestSchema, SendEmailResponseSchema, type SendEmailRequest, type SendEmailResponse } from "../../gen/fuel/notification/v1/notification_pb.js";
import { callInfo } from "../../platform/context.js";
import { invalidArgument } from "../../platform/errors.js";
import { email, optionalUuid, text } from "../../platform/validate.js";
import { toDelivery } from "./convert.js";
import type { HandlerDeps } from "./handler-deps.js";
import { idemOf, keyReused } from "./idempotency.js";
import { messageText } from "./rules.js";
import { insertDelivery } from "./store.js";

export const EMAIL_TEXT_MAX = 100_000;
export const EMAIL_HTML_MAX = 500_000;

export function sendEmail({ deps, wake }: HandlerDeps) {
  return async (req: SendEmailRequest, ctx: HandlerContext): Promise<SendEmailResponse> => {
    const to = email("to_address", req.toAddress);
    const subject = text("subject", req.subject, 1, 200);
    const body = messageText("text_body", req.textBody, 1, EMAIL_TEXT_MAX);
    if (req.htmlBody.length > EMAIL_HTML_MAX) throw invalidArgument("html_body", `must be at most ${EMAIL_HTML_MAX} characters`);
    const html = req.htmlBody.trim() === "" ? null : req.htmlBody;
    const userId = optionalUuid("user_id", req.userId);
    const idem = idemOf(ctx, SendEmailRequestSchema, req);
    // One INSERT (its own transaction); a replayed key finds the first row instead.
    const { row, created } = await insertDelivery(
      deps.pool,
      { channel: "EMAIL", userId, recipient: to, subject, body, htmlBody: html, status: "QUEUED", traceId: callInfo(ctx).traceId, now: deps.now() },
      idem,
    );
    if (!created && row.request_hash !== idem.requestHash) keyReused();
    if (created) wake();
    return create(SendEmailResponseSchema, { delivery: toDelivery(row) });
  };
}
