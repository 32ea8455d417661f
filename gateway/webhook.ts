// POST /payments/webhook/reconcile: the payment gateway's signed callbacks. Plain HTTP on
// the public port, because gateways post JSON, not RPCs. This endpoint checks nothing
// itself: it relays the raw body and signature headers to PaymentService.ReconcileWebhook
// (which verifies the HMAC, the timestamp and applies the event once) and turns its
// answer into the HTTP statuses gateways understand.
import { createHash } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { context } from "@opentelemetry/api";
import { PaymentService, ReconcileOutcome } from "../gen/fuel/payment/v1/payment_pb.js";
import type { Mesh } from "../platform/mesh.js";
import type { NodeHandler } from "./edge.js";

export const WEBHOOK_PATH = "/payments/webhook/reconcile";

/** Webhook bodies are small JSON events; anything larger is refused unread. */
const MAX_WEBHOOK_BYTES = 256 * 1024;
const RELAY_TIMEOUT_MS = 10_000;

/** `relay` is a mesh identity of its own: the gateway's token grants no service rights. */
export function webhookRoute(relay: Mesh, gatewayName: string): NodeHandler {
  const payments = relay.client(PaymentService);
  return (req, res) => {
    const reply = (status: number, body: Record<string, unknown>) => {
      if (res.headersSent) return;
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.method !== "POST") return reply(405, { error: "method not allowed" });
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_WEBHOOK_BYTES) {
        reply(413, { error: "body too large" });
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    // Request events run outside the route's trace context: bind it, so the relayed call
    // continues the delivery's trace.
    req.on("end", context.bind(context.active(), () => {
      if (size > MAX_WEBHOOK_BYTES) return;
      const rawBody = Buffer.concat(chunks);
      const timestampHeader = String(req.headers["x-webhook-timestamp"] ?? "");
      const signatureHeader = String(req.headers["x-webhook-signature"] ?? "");
      const key = `webhook:${gatewayName}:${timestampHeader}:${createHash("sha256").update(rawBody).digest("hex")}`;
      payments
        .reconcileWebhook({ gateway: gatewayName, rawBody, timestampHeader, signatureHeader }, { headers: { "idempotency-key": key.slice(0, 128) }, timeoutMs: RELAY_TIMEOUT_MS })
        .then((r) => reply(200, { outcome: ReconcileOutcome[r.outcome] }))
        .catch((err) => {
          const e = ConnectError.from(err);
          if (e.code === Code.Unauthenticated) return reply(401, { error: e.rawMessage });
          if (e.code === Code.InvalidArgument) return reply(400, { error: e.rawMessage });
          return reply(503, { error: "try again later" });
        });
    }));
    req.on("error", () => reply(400, { error: "bad request" }));
  };
}
