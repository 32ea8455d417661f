// Parses a webhook body: a WebhookEvent in proto3 JSON (what the simulated gateway posts;
// an adapter for a real provider would map its own event JSON here). Anything that does
// not parse, or lacks what applying it needs, is WEBHOOK_PAYLOAD_INVALID.
import { fromJsonString, toJson } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { WebhookEventSchema, WebhookEventType, type WebhookEvent } from "../../gen/fuel/payment/v1/payment_pb.js";
import { invalidArgument } from "../../platform/errors.js";
import type { GatewayEvent } from "./apply-event.js";
import type { EventKind } from "./status-rule.js";

const KIND: Partial<Record<WebhookEventType, EventKind>> = {
  [WebhookEventType.PAYMENT_SUCCEEDED]: "SUCCEEDED",
  [WebhookEventType.PAYMENT_FAILED]: "FAILED",
  [WebhookEventType.PAYMENT_EXPIRED]: "EXPIRED",
};
const EVENT_ID = /^[\x21-\x7e]{1,200}$/;
const CURRENCY = /^[A-Z]{3}$/;

const bad = (field: string, description: string) => invalidArgument(field, description, "WEBHOOK_PAYLOAD_INVALID");

export function parseWebhookEvent(rawBody: Uint8Array): { message: WebhookEvent; event: GatewayEvent } {
  let message: WebhookEvent;
  try {
    message = fromJsonString(WebhookEventSchema, Buffer.from(rawBody).toString("utf8"), { ignoreUnknownFields: true });
  } catch {
    throw bad("raw_body", "is not a WebhookEvent in proto3 JSON");
  }
  if (!EVENT_ID.test(message.eventId)) throw bad("raw_body.event_id", "must be 1-200 printable ASCII characters");
  const kind = KIND[message.type];
  if (!kind) throw bad("raw_body.type", "is not a known event type");
  if (message.paymentId === "") throw bad("raw_body.payment_id", "is required");
  if (message.paymentId.length > 200 || message.gatewayPaymentId.length > 200) throw bad("raw_body.payment_id", "is too long");
  const amount = message.amount;
  if (kind === "SUCCEEDED" && !amount) throw bad("raw_body.amount", "is required for a success");
  if (amount && (!CURRENCY.test(amount.currency) || amount.amountMinor < 0n)) throw bad("raw_body.amount", "must be a non-negative amount with an ISO-4217 currency");
  let occurTime: Date | null = null;
  if (message.occurTime) {
    occurTime = timestampDate(message.occurTime);
    if (Number.isNaN(occurTime.getTime())) throw bad("raw_body.occur_time", "is not a valid time");
  }
  return {
    message,
    event: {
      eventId: message.eventId,
      kind,
      paymentId: message.paymentId,
      gatewayPaymentId: message.gatewayPaymentId,
      amount: amount ? { amount: amount.amountMinor, currency: amount.currency } : undefined,
      failureCode: message.failureCode.slice(0, 100),
      failureMessage: message.failureMessage.slice(0, 500),
      occurTime,
      record: toJson(WebhookEventSchema, message),
    },
  };
}
