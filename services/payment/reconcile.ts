// ReconcileWebhook (internal): the gateway's raw-HTTP webhook endpoint relays each
// delivery here unchanged. Checks, in order: the HMAC signature against every accepted
// secret (rotation), the timestamp's age against our clock, the body's shape; then
// applies the event once (apply-event.ts) under the Postgres idempotency guard.
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { ReconcileWebhookResponseSchema, type ReconcileWebhookRequest, type ReconcileWebhookResponse } from "../../gen/fuel/payment/v1/payment_pb.js";
import { invalidArgument, unauthenticated } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import { applyEvent } from "./apply-event.js";
import { guardedTx } from "./common.js";
import { OUTCOME, paymentToProto } from "./convert.js";
import type { OutboxRelay } from "./outbox.js";
import { GATEWAY_NAME_PATTERN, type PaymentSettings } from "./settings.js";
import { verifyDelivery } from "./signature.js";
import { parseWebhookEvent } from "./webhook-event.js";

export function reconcileWebhook(deps: ServiceDeps, relay: OutboxRelay, settings: PaymentSettings) {
  return async (req: ReconcileWebhookRequest, ctx: HandlerContext): Promise<ReconcileWebhookResponse> => {
    const gateway = req.gateway || settings.gatewayName;
    if (!GATEWAY_NAME_PATTERN.test(gateway)) throw invalidArgument("gateway", "must be an adapter name like \"simulated\"", "WEBHOOK_PAYLOAD_INVALID");
    const check = verifyDelivery(
      { rawBody: req.rawBody, timestampHeader: req.timestampHeader, signatureHeader: req.signatureHeader },
      settings.webhookSecrets,
      deps.now().getTime(),
    );
    if (!check.ok) throw unauthenticated(check.reason, check.message);
    const { message, event } = parseWebhookEvent(req.rawBody);
    let queued = false;
    const res = await guardedTx(deps, ctx, ReconcileWebhookResponseSchema, async (tx) => {
      const r = await applyEvent(tx, gateway, "WEBHOOK", event, deps.now());
      queued = r.outcome === "APPLIED" && r.payment?.payment.status === "SUCCEEDED";
      return create(ReconcileWebhookResponseSchema, {
        outcome: OUTCOME[r.outcome],
        event: message,
        payment: r.payment ? paymentToProto(r.payment.payment, r.payment.allocations) : undefined,
      });
    });
    if (queued) relay.wake();
    return res;
  };
}
