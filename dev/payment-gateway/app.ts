// The simulated payment gateway: the HTTP API of a hosted-checkout gateway, in memory,
// posting signed webhooks back the way a real one does. Runs as its own process
// (server.ts); PaymentService reaches it only over HTTP (gateway-client.ts).
//
//   POST /v1/payments                 {reference, amount_minor, currency, description,
//                                      method?, return_url?, expires_at?}
//                                     Idempotency-Key header required; the same key and
//                                     body → the same payment (200); another body → 409.
//                                     → 201 {id, reference, status: "pending", checkout_url, …}
//   GET  /v1/payments/{id}            → the payment
//   GET  /v1/payments?reference=      → {data: [payment]}
//   POST /v1/payments/{id}/simulate   {outcome: "succeeded"|"failed"|"expired",
//                                      amount_minor?, currency?, failure_code?,
//                                      failure_message?, webhook?: false}
//                                     completes the checkout as a payer would (tests, demo)
//                                     → {payment, event_id}
//   GET  /v1/events?payment_id=       → {data: [event with delivery attempts]}
//   POST /v1/events/{event_id}/redeliver   sends an event again (re-signed), → {status}
//   GET  /checkout/{id}               a tiny hosted checkout page (pay / fail buttons)
//   GET  /healthz
//
// Webhooks: POST <webhookUrl>, body = WebhookEvent in proto3 JSON, headers
// x-webhook-timestamp (Unix seconds) and x-webhook-signature "v1=<hex HMAC-SHA256 over
// `${timestamp}.${body}`>", re-signed on every attempt; each event has a unique id;
// retried on any non-2xx or network error with exponential backoff, bounded attempts.
import { randomBytes, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { create, toJsonString } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { MoneySchema } from "../../gen/fuel/common/v1/common_pb.js";
import { WebhookEventSchema, WebhookEventType } from "../../gen/fuel/payment/v1/payment_pb.js";
import { signatureHeader } from "../../services/payment/signature.js";

export type SimStatus = "pending" | "succeeded" | "failed" | "expired";
export type Outcome = "succeeded" | "failed" | "expired";

export interface SimulatorOptions {
  /** Our public base URL, for checkout links. */
  publicUrl: string;
  webhookUrl: string;
  webhookSecret: string;
  /** Webhook delivery attempts per event (first included). */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Complete every new payment automatically after a delay (demo). */
  autoComplete: { outcome: Outcome; afterMs: number } | null;
  log: (msg: string) => void;
}

interface SimPayment {
  id: string;
  reference: string;
  status: SimStatus;
  amountMinor: bigint;
  currency: string;
  description: string;
  method: string;
  returnUrl: string;
  expiresAt: Date | null;
  received: { amount: bigint; currency: string } | null;
  failureCode: string;
  failureMessage: string;
  createdAt: Date;
  updatedAt: Date;
  idempotencyKey: string;
  fingerprint: string;
}

interface SimEvent {
  eventId: string;
  paymentId: string;
  type: string;
  body: string;
  attempts: Array<{ at: string; status: number | null }>;
  delivered: boolean;
  gaveUp: boolean;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const MINOR = /^\d{1,18}$/;
const CURRENCY = /^[A-Z]{3}$/;
const MAX_BODY = 64 * 1024;
const EVENT_TYPE: Record<Outcome, WebhookEventType> = {
  succeeded: WebhookEventType.PAYMENT_SUCCEEDED,
  failed: WebhookEventType.PAYMENT_FAILED,
  expired: WebhookEventType.PAYMENT_EXPIRED,
};

export class Simulator {
  private readonly payments = new Map<string, SimPayment>();
  private readonly byKey = new Map<string, string>();
  private readonly byReference = new Map<string, string>();
  private readonly events = new Map<string, SimEvent>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  private readonly expiry: NodeJS.Timeout;

  constructor(private readonly o: SimulatorOptions) {
    this.expiry = setInterval(() => this.expireDue(), 1000);
    this.expiry.unref();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.expiry);
    for (const t of this.timers) clearTimeout(t);
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closed) fn();
    }, ms);
    this.timers.add(t);
  }

  // ---- API ------------------------------------------------------------------------

  createPayment(body: Record<string, unknown>, idempotencyKey: string): { status: number; payment: SimPayment } {
    if (!idempotencyKey || idempotencyKey.length > 255) throw new HttpError(400, "Idempotency-Key header is required");
    const reference = str(body.reference);
    const amount = str(body.amount_minor);
    const currency = str(body.currency);
    if (!reference || reference.length > 200) throw new HttpError(400, "reference is required");
    if (!MINOR.test(amount) || BigInt(amount) <= 0n) throw new HttpError(400, "amount_minor must be a positive integer string");
    if (!CURRENCY.test(currency)) throw new HttpError(400, "currency must be ISO-4217");
    const fingerprint = JSON.stringify([reference, amount, currency]);
    const known = this.byKey.get(idempotencyKey);
    if (known) {
      const p = this.payments.get(known)!;
      if (p.fingerprint !== fingerprint) throw new HttpError(409, "Idempotency-Key was used with a different request");
      return { status: 200, payment: p };
    }
    const expires = str(body.expires_at);
    const now = new Date();
    const id = `pay_${randomBytes(12).toString("hex")}`;
    const p: SimPayment = {
      id,
      reference,
      status: "pending",
      amountMinor: BigInt(amount),
      currency,
      description: str(body.description).slice(0, 500),
      method: str(body.method) || "card",
      returnUrl: str(body.return_url),
      expiresAt: expires && !Number.isNaN(Date.parse(expires)) ? new Date(expires) : null,
      received: null,
      failureCode: "",
      failureMessage: "",
      createdAt: now,
      updatedAt: now,
      idempotencyKey,
      fingerprint,
    };
    this.payments.set(id, p);
    this.byKey.set(idempotencyKey, id);
    this.byReference.set(reference, id);
    if (this.o.autoComplete) {
      const { outcome, afterMs } = this.o.autoComplete;
      this.later(afterMs, () => {
        if (p.status === "pending") this.complete(id, { outcome });
      });
    }
    return { status: 201, payment: p };
  }

  get(id: string): SimPayment | undefined {
    return this.payments.get(id);
  }

  findByReference(reference: string): SimPayment | undefined {
    const id = this.byReference.get(reference);
    return id ? this.payments.get(id) : undefined;
  }

  /** The payer finishes (or abandons) the checkout. */
  complete(
    id: string,
    o: { outcome: Outcome; amountMinor?: bigint; currency?: string; failureCode?: string; failureMessage?: string; webhook?: boolean },
  ): { payment: SimPayment; eventId: string | null } {
    const p = this.payments.get(id);
    if (!p) throw new HttpError(404, "no such payment");
    const allowed = p.status === "pending" || (p.status === "failed" && (o.outcome === "succeeded" || o.outcome === "failed"));
    if (!allowed) throw new HttpError(409, `payment is ${p.status}`);
    p.status = o.outcome;
    p.updatedAt = new Date();
    if (o.outcome === "succeeded") {
      p.received = { amount: o.amountMinor ?? p.amountMinor, currency: o.currency ?? p.currency };
      p.failureCode = "";
      p.failureMessage = "";
    } else if (o.outcome === "failed") {
      p.failureCode = o.failureCode || "card_declined";
      p.failureMessage = o.failureMessage || "The card was declined.";
    }
    const eventId = o.webhook === false ? null : this.emit(p, o.outcome);
    return { payment: p, eventId };
  }

  private expireDue(): void {
    const now = Date.now();
    for (const p of this.payments.values()) {
      if (p.status === "pending" && p.expiresAt && p.expiresAt.getTime() <= now) this.complete(p.id, { outcome: "expired" });
    }
  }

  // ---- webhooks -------------------------------------------------------------------

  private emit(p: SimPayment, outcome: Outcome): string {
    const eventId = `evt_${randomUUID().replaceAll("-", "")}`;
    const amount = outcome === "succeeded" && p.received ? p.received : { amount: p.amountMinor, currency: p.currency };
    const body = toJsonString(
      WebhookEventSchema,
      create(WebhookEventSchema, {
        eventId,
        type: EVENT_TYPE[outcome],
        paymentId: p.reference,
        gatewayPaymentId: p.id,
        amount: create(MoneySchema, { amountMinor: amount.amount, currency: amount.currency }),
        failureCode: outcome === "failed" ? p.failureCode : "",
        failureMessage: outcome === "failed" ? p.failureMessage : "",
        occurTime: timestampFromDate(p.updatedAt),
      }),
    );
    const ev: SimEvent = { eventId, paymentId: p.id, type: outcome, body, attempts: [], delivered: false, gaveUp: false };
    this.events.set(eventId, ev);
    void this.deliver(ev, 1);
    return eventId;
  }

  /** Sends one event once, signed now; returns the HTTP status (null: no answer). */
  async send(ev: SimEvent): Promise<number | null> {
    const ts = String(Math.floor(Date.now() / 1000));
    const raw = Buffer.from(ev.body, "utf8");
    let status: number | null = null;
    try {
      const res = await fetch(this.o.webhookUrl, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-webhook-timestamp": ts,
          "x-webhook-signature": signatureHeader(this.o.webhookSecret, ts, raw),
          "user-agent": "fuel-simulated-gateway/1",
        },
        body: raw,
        signal: AbortSignal.timeout(10_000),
      });
      status = res.status;
      await res.arrayBuffer().catch(() => undefined);
    } catch {
      status = null;
    }
    ev.attempts.push({ at: new Date().toISOString(), status });
    if (status !== null && status >= 200 && status < 300) ev.delivered = true;
    return status;
  }

  private async deliver(ev: SimEvent, attempt: number): Promise<void> {
    if (this.closed) return;
    const status = await this.send(ev);
    if (status !== null && status >= 200 && status < 300) return;
    if (attempt >= this.o.maxAttempts) {
      ev.gaveUp = true;
      this.o.log(`webhook ${ev.eventId}: giving up after ${attempt} attempts (last status ${status ?? "none"})`);
      return;
    }
    const delay = Math.min(this.o.maxDelayMs, this.o.baseDelayMs * 2 ** (attempt - 1));
    this.later(delay, () => void this.deliver(ev, attempt + 1));
  }

  // ---- HTTP -----------------------------------------------------------------------

  handler = (req: IncomingMessage, res: ServerResponse): void => {
    void this.route(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      const message = err instanceof HttpError ? err.message : "internal error";
      send(res, status, { error: { message } });
    });
  };

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://sim");
    const parts = url.pathname.split("/").filter(Boolean);
    const method = req.method ?? "GET";
    if (method === "GET" && url.pathname === "/healthz") return send(res, 200, { ok: true });
    if (parts[0] === "v1" && parts[1] === "payments") {
      if (parts.length === 2 && method === "POST") {
        const r = this.createPayment(await readJson(req), String(req.headers["idempotency-key"] ?? ""));
        return send(res, r.status, this.view(r.payment));
      }
      if (parts.length === 2 && method === "GET") {
        const ref = url.searchParams.get("reference") ?? "";
        const p = this.findByReference(ref);
        return send(res, 200, { data: p ? [this.view(p)] : [] });
      }
      const p = parts[2] ? this.payments.get(decodeURIComponent(parts[2])) : undefined;
      if (parts.length === 3 && method === "GET") {
        if (!p) throw new HttpError(404, "no such payment");
        return send(res, 200, this.view(p));
      }
      if (parts.length === 4 && parts[3] === "simulate" && method === "POST") {
        if (!p) throw new HttpError(404, "no such payment");
        const b = await readJson(req);
        const outcome = str(b.outcome) as Outcome;
        if (!["succeeded", "failed", "expired"].includes(outcome)) throw new HttpError(400, "outcome must be succeeded, failed or expired");
        const amount = b.amount_minor === undefined ? undefined : str(b.amount_minor);
        if (amount !== undefined && !MINOR.test(amount)) throw new HttpError(400, "amount_minor must be an integer string");
        const currency = b.currency === undefined ? undefined : str(b.currency);
        if (currency !== undefined && !CURRENCY.test(currency)) throw new HttpError(400, "currency must be ISO-4217");
        const r = this.complete(p.id, {
          outcome,
          amountMinor: amount === undefined ? undefined : BigInt(amount),
          currency,
          failureCode: str(b.failure_code),
          failureMessage: str(b.failure_message),
          webhook: b.webhook !== false,
        });
        return send(res, 200, { payment: this.view(r.payment), event_id: r.eventId });
      }
    }
    if (parts[0] === "v1" && parts[1] === "events") {
      if (parts.length === 2 && method === "GET") {
        const pid = url.searchParams.get("payment_id") ?? "";
        const list = [...this.events.values()].filter((e) => !pid || e.paymentId === pid);
        return send(res, 200, { data: list.map((e) => ({ event_id: e.eventId, payment_id: e.paymentId, type: e.type, body: e.body, attempts: e.attempts, delivered: e.delivered, gave_up: e.gaveUp })) });
      }
      if (parts.length === 4 && parts[3] === "redeliver" && method === "POST") {
        const ev = this.events.get(decodeURIComponent(parts[2]!));
        if (!ev) throw new HttpError(404, "no such event");
        return send(res, 200, { status: await this.send(ev) });
      }
    }
    if (parts[0] === "checkout" && parts[1]) {
      const p = this.payments.get(decodeURIComponent(parts[1]));
      if (!p) throw new HttpError(404, "no such payment");
      if (method === "POST" && (parts[2] === "pay" || parts[2] === "fail")) {
        this.complete(p.id, { outcome: parts[2] === "pay" ? "succeeded" : "failed" });
        res.writeHead(303, { location: p.returnUrl || `/checkout/${p.id}` });
        res.end();
        return;
      }
      if (method === "GET") return sendHtml(res, checkoutPage(this.view(p)));
    }
    throw new HttpError(404, "not found");
  }

  view(p: SimPayment): Record<string, unknown> {
    return {
      id: p.id,
      object: "payment",
      reference: p.reference,
      status: p.status,
      amount_minor: p.amountMinor.toString(),
      currency: p.currency,
      description: p.description,
      method: p.method,
      checkout_url: `${this.o.publicUrl}/checkout/${p.id}`,
      return_url: p.returnUrl,
      expires_at: p.expiresAt?.toISOString() ?? null,
      ...(p.received ? { amount_received_minor: p.received.amount.toString(), received_currency: p.received.currency } : {}),
      failure_code: p.failureCode,
      failure_message: p.failureMessage,
      created_at: p.createdAt.toISOString(),
      updated_at: p.updatedAt.toISOString(),
    };
  }
}

function str(v: unknown): string {
  return typeof v === "string" ? v : typeof v === "number" && Number.isSafeInteger(v) ? String(v) : "";
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, "body too large");
    chunks.push(c as Buffer);
  }
  if (size === 0) return {};
  try {
    const v = JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not an object");
    return v as Record<string, unknown>;
  } catch {
    throw new HttpError(400, "body must be a JSON object");
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

function sendHtml(res: ServerResponse, html: string): void {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end(html);
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function checkoutPage(p: Record<string, unknown>): string {
  const id = esc(String(p.id));
  const pending = p.status === "pending" || p.status === "failed";
  return `<!doctype html><meta charset="utf-8"><title>Simulated checkout</title>
<h1>Simulated checkout</h1>
<p>${esc(String(p.description))}</p>
<p>Amount: ${esc(String(p.amount_minor))} (minor units) ${esc(String(p.currency))} — status: <b>${esc(String(p.status))}</b></p>
${pending ? `<form method="post" action="/checkout/${id}/pay"><button>Pay</button></form><form method="post" action="/checkout/${id}/fail"><button>Fail</button></form>` : ""}`;
}
