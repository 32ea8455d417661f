// The payment webhook end to end over real HTTP: POST /payments/webhook/reconcile on the
// gateway's public port, relayed to PaymentService.ReconcileWebhook. Signed with
// HMAC-SHA256 over `timestamp.raw_body`: bad signature → 401, stale timestamp → 401,
// malformed body → 400; each event applied once (a replay answers DUPLICATE, concurrent
// redeliveries apply once); events in any order (a late failure never undoes a success);
// an amount or currency mismatch is flagged NEEDS_REVIEW and nothing is queued; a second
// configured secret is accepted (rotation). The simulated gateway process signs and
// delivers its own events to the same endpoint.
//
// Payments are written straight into payment.payments here (the webhook does not care
// how they were initiated; payment-flow.test.ts covers InitiatePayment against real
// loans), and LoanService is not started, so the repayment outbox keeps retrying and a
// SUCCEEDED payment stays SUCCEEDED while we look at it.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { randomUUID } from "node:crypto";
import pg from "pg";
import { create, toJsonString } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Role } from "../gen/fuel/common/v1/common_pb.js";
import { MoneySchema } from "../gen/fuel/common/v1/common_pb.js";
import { PaymentService, PaymentStatus, ReviewReason, WebhookEventSchema, WebhookEventType } from "../gen/fuel/payment/v1/payment_pb.js";
import { paymentSettingsFromEnv } from "../services/payment/settings.js";
import { signatureHeader } from "../services/payment/signature.js";
import { connectJson } from "./helpers/clients.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";

interface Ctx {
  sys: TestSystem;
  db: pg.Client;
}

const test = suite<Ctx>("payment webhook");
const SECRET_A = "webhook-secret-A-0123456789abcdef";
const SECRET_B = "webhook-secret-B-0123456789abcdef";

test.before(async (ctx) => {
  ctx.sys = await startTestSystem({ services: ["auth", "payment"], env: { PAYMENT_WEBHOOK_SECRETS: `${SECRET_A},${SECRET_B}`, PAYMENT_SYNC_INTERVAL_MS: "0" } });
  ctx.db = new pg.Client({ connectionString: ctx.sys.databaseUrl });
  await ctx.db.connect();
});

test.after(async (ctx) => {
  await ctx.db?.end();
  await ctx.sys?.stop();
});

/** A PENDING payment of `amount` NGN over two loans, as InitiatePayment would leave it. */
async function pendingPayment(db: pg.Client, amount = 10_000n, opts: { gatewayPaymentId?: string } = {}): Promise<{ paymentId: string; loans: string[] }> {
  const paymentId = randomUUID();
  const loans = [randomUUID(), randomUUID()];
  const now = new Date();
  await db.query(
    `INSERT INTO payment.payments (payment_id, driver_id, initiated_by, currency, amount_minor, method, gateway, gateway_payment_id,
       checkout_url, idempotency_scope, idempotency_key, request_hash, create_time, update_time, expire_time)
     VALUES ($1, $2, $3, 'NGN', $4, 'CARD', 'simulated', $5, 'https://checkout.example/x', 'fixture', $8, 'h', $6, $6, $7)`,
    [paymentId, randomUUID(), randomUUID(), amount, opts.gatewayPaymentId ?? null, now, new Date(now.getTime() + 3600_000), paymentId],
  );
  const first = amount / 3n;
  const parts = [first, amount - first];
  for (const [i, loanId] of loans.entries()) {
    await db.query(
      `INSERT INTO payment.allocations (payment_id, loan_id, position, amount_minor, currency, loan_driver_id, loan_bank_id) VALUES ($1, $2, $3, $4, 'NGN', $5, $6)`,
      [paymentId, loanId, i, parts[i], randomUUID(), randomUUID()],
    );
  }
  return { paymentId, loans };
}

function eventBody(paymentId: string, type: WebhookEventType, over: { eventId?: string; amount?: bigint; currency?: string; gatewayPaymentId?: string } = {}): Buffer {
  return Buffer.from(
    toJsonString(
      WebhookEventSchema,
      create(WebhookEventSchema, {
        eventId: over.eventId ?? `evt_${randomUUID()}`,
        type,
        paymentId,
        gatewayPaymentId: over.gatewayPaymentId ?? "",
        amount: create(MoneySchema, { amountMinor: over.amount ?? 10_000n, currency: over.currency ?? "NGN" }),
        failureCode: type === WebhookEventType.PAYMENT_FAILED ? "card_declined" : "",
        occurTime: timestampFromDate(new Date()),
      }),
    ),
  );
}

async function deliver(sys: TestSystem, body: Buffer, opts: { secret?: string; ts?: number; signature?: string } = {}): Promise<{ status: number; outcome?: string }> {
  const ts = String(opts.ts ?? Math.floor(Date.now() / 1000));
  const res = await fetch(`${sys.gatewayUrl}/payments/webhook/reconcile`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-webhook-timestamp": ts,
      "x-webhook-signature": opts.signature ?? signatureHeader(opts.secret ?? SECRET_A, ts, body),
    },
    body: new Uint8Array(body),
  });
  const json = (await res.json().catch(() => ({}))) as { outcome?: string };
  return { status: res.status, outcome: json.outcome };
}

async function state(db: pg.Client, paymentId: string) {
  const p = await db.query(`SELECT status, review_reason, received_minor, unapplied_minor, failure_code FROM payment.payments WHERE payment_id = $1`, [paymentId]);
  const outbox = await db.query(`SELECT count(*)::int AS n FROM payment.outbox WHERE payment_id = $1`, [paymentId]);
  const events = await db.query(`SELECT count(*)::int AS n FROM payment.gateway_events WHERE payment_id = $1`, [paymentId]);
  const allocs = await db.query(`SELECT status FROM payment.allocations WHERE payment_id = $1 ORDER BY position`, [paymentId]);
  return {
    status: p.rows[0].status as string,
    reviewReason: p.rows[0].review_reason as string,
    received: p.rows[0].received_minor as string | null,
    unapplied: String(p.rows[0].unapplied_minor),
    failureCode: p.rows[0].failure_code as string,
    outbox: outbox.rows[0].n as number,
    events: events.rows[0].n as number,
    allocations: allocs.rows.map((r) => r.status as string),
  };
}

test("the two configured secrets are what the service accepts", ({ sys }) => {
  assert.equal(paymentSettingsFromEnv(sys.cfg.env).webhookSecrets, [SECRET_A, SECRET_B]);
});

test("a signed success is applied: SUCCEEDED, one repayment queued per allocation", async ({ sys, db }) => {
  const { paymentId } = await pendingPayment(db);
  const r = await deliver(sys, eventBody(paymentId, WebhookEventType.PAYMENT_SUCCEEDED, { gatewayPaymentId: "pay_abc" }));
  assert.equal(r, { status: 200, outcome: "APPLIED" });
  const s = await state(db, paymentId);
  assert.is(s.status, "SUCCEEDED");
  assert.is(String(s.received), "10000");
  assert.is(s.outbox, 2);
  const row = await db.query(`SELECT gateway_payment_id, checkout_url FROM payment.payments WHERE payment_id = $1`, [paymentId]);
  assert.equal(row.rows[0], { gateway_payment_id: "pay_abc", checkout_url: "" });
});

test("bad signature → 401 and nothing changes", async ({ sys, db }) => {
  const { paymentId } = await pendingPayment(db);
  const body = eventBody(paymentId, WebhookEventType.PAYMENT_SUCCEEDED);
  const ts = Math.floor(Date.now() / 1000);
  const wrongSecret = await deliver(sys, body, { secret: "not-a-configured-secret-0123456789" });
  assert.is(wrongSecret.status, 401);
  const good = signatureHeader(SECRET_A, String(ts), body);
  const flipped = good.slice(0, -1) + (good.endsWith("0") ? "1" : "0");
  assert.is((await deliver(sys, body, { ts, signature: flipped })).status, 401);
  assert.is((await deliver(sys, body, { ts, signature: "" })).status, 401);
  // Signed over a different body than the one sent.
  const other = eventBody(paymentId, WebhookEventType.PAYMENT_SUCCEEDED, { amount: 1n });
  assert.is((await deliver(sys, body, { ts, signature: signatureHeader(SECRET_A, String(ts), other) })).status, 401);
  const s = await state(db, paymentId);
  assert.equal([s.status, s.outbox, s.events], ["PENDING", 0, 0]);
});

test("stale or future timestamp → 401 even when correctly signed", async ({ sys, db }) => {
  const { paymentId } = await pendingPayment(db);
  const body = eventBody(paymentId, WebhookEventType.PAYMENT_SUCCEEDED);
  const now = Math.floor(Date.now() / 1000);
  assert.is((await deliver(sys, body, { ts: now - 301 })).status, 401);
  assert.is((await deliver(sys, body, { ts: now + 400 })).status, 401);
  assert.is((await state(db, paymentId)).status, "PENDING");
  // Within the window it goes through.
  assert.is((await deliver(sys, body, { ts: now - 200 })).status, 200);
  assert.is((await state(db, paymentId)).status, "SUCCEEDED");
});

test("the server clock decides staleness (injectable clock)", async ({ sys, db }) => {
  const { paymentId } = await pendingPayment(db);
  const body = eventBody(paymentId, WebhookEventType.PAYMENT_FAILED);
  sys.clock.advance(10 * 60_000);
  try {
    assert.is((await deliver(sys, body)).status, 401);
  } finally {
    sys.clock.advance(-10 * 60_000);
  }
  assert.is((await deliver(sys, body)).status, 200);
});

test("replayed event → applied once (200 DUPLICATE), identical redelivery → same answer, no new effects", async ({ sys, db }) => {
  const { paymentId } = await pendingPayment(db);
  const body = eventBody(paymentId, WebhookEventType.PAYMENT_SUCCEEDED);
  const ts = Math.floor(Date.now() / 1000);
  assert.equal(await deliver(sys, body, { ts }), { status: 200, outcome: "APPLIED" });
  // The gateway re-signs a retry: new timestamp, same event id.
  assert.equal(await deliver(sys, body, { ts: ts - 5 }), { status: 200, outcome: "DUPLICATE" });
  // The very same request again (same timestamp and signature) is answered as before.
  assert.is((await deliver(sys, body, { ts })).status, 200);
  const s = await state(db, paymentId);
  assert.equal([s.status, s.outbox, s.events], ["SUCCEEDED", 2, 1]);
});

test("concurrent redeliveries of one event apply it exactly once", async ({ sys, db }) => {
  const { paymentId } = await pendingPayment(db);
  const body = eventBody(paymentId, WebhookEventType.PAYMENT_SUCCEEDED);
  const now = Math.floor(Date.now() / 1000);
  const results = await Promise.all(Array.from({ length: 12 }, (_, i) => deliver(sys, body, { ts: now - i })));
  // Every delivery gets an answer the gateway understands (200, or 503 = retry later).
  for (const r of results) assert.ok(r.status === 200 || r.status === 503, String(r.status));
  assert.is(results.filter((r) => r.outcome === "APPLIED").length, 1);
  const s = await state(db, paymentId);
  assert.equal([s.status, s.outbox, s.events], ["SUCCEEDED", 2, 1]);
});

test("out of order: a failure after a success is ignored; SUCCEEDED stays", async ({ sys, db }) => {
  const { paymentId } = await pendingPayment(db);
  assert.is((await deliver(sys, eventBody(paymentId, WebhookEventType.PAYMENT_SUCCEEDED))).outcome, "APPLIED");
  assert.equal(await deliver(sys, eventBody(paymentId, WebhookEventType.PAYMENT_FAILED)), { status: 200, outcome: "IGNORED_OUT_OF_ORDER" });
  assert.equal(await deliver(sys, eventBody(paymentId, WebhookEventType.PAYMENT_EXPIRED)), { status: 200, outcome: "IGNORED_OUT_OF_ORDER" });
  const s = await state(db, paymentId);
  assert.equal([s.status, s.failureCode, s.outbox, s.events], ["SUCCEEDED", "", 2, 3]);
});

test("a failure then a success (retried checkout) ends SUCCEEDED", async ({ sys, db }) => {
  const { paymentId } = await pendingPayment(db);
  assert.is((await deliver(sys, eventBody(paymentId, WebhookEventType.PAYMENT_FAILED))).outcome, "APPLIED");
  let s = await state(db, paymentId);
  assert.equal([s.status, s.failureCode, s.outbox], ["FAILED", "card_declined", 0]);
  assert.is((await deliver(sys, eventBody(paymentId, WebhookEventType.PAYMENT_SUCCEEDED))).outcome, "APPLIED");
  s = await state(db, paymentId);
  assert.equal([s.status, s.failureCode, s.outbox], ["SUCCEEDED", "", 2]);
});

test("amount mismatch → NEEDS_REVIEW (AMOUNT_MISMATCH), nothing applied or queued", async ({ sys, db }) => {
  const { paymentId } = await pendingPayment(db, 10_000n);
  assert.equal(await deliver(sys, eventBody(paymentId, WebhookEventType.PAYMENT_SUCCEEDED, { amount: 9_999n })), { status: 200, outcome: "FLAGGED" });
  const s = await state(db, paymentId);
  assert.equal(s, { status: "NEEDS_REVIEW", reviewReason: "AMOUNT_MISMATCH", received: s.received, unapplied: "9999", failureCode: "", outbox: 0, events: 1, allocations: ["NOT_APPLIED", "NOT_APPLIED"] });
  assert.is(String(s.received), "9999");
  // A later matching success does not undo the flag: an operator resolves it.
  assert.equal(await deliver(sys, eventBody(paymentId, WebhookEventType.PAYMENT_SUCCEEDED)), { status: 200, outcome: "UNCHANGED" });
  assert.is((await state(db, paymentId)).outbox, 0);
  // What an operator sees through the API.
  const admin = connectJson(PaymentService, sys.gatewayUrl, await mintAccessToken(sys, principal(Role.SYSTEM_ADMIN)));
  const { payment } = await admin.getPayment({ paymentId });
  assert.is(payment?.status, PaymentStatus.NEEDS_REVIEW);
  assert.is(payment?.reviewReason, ReviewReason.AMOUNT_MISMATCH);
  assert.is(payment?.amountReceived?.amountMinor, 9_999n);
  assert.is(payment?.unappliedAmount?.amountMinor, 9_999n);
});

test("currency mismatch → NEEDS_REVIEW (CURRENCY_MISMATCH)", async ({ sys, db }) => {
  const { paymentId } = await pendingPayment(db, 10_000n);
  assert.equal(await deliver(sys, eventBody(paymentId, WebhookEventType.PAYMENT_SUCCEEDED, { currency: "KES" })), { status: 200, outcome: "FLAGGED" });
  const s = await state(db, paymentId);
  assert.equal([s.status, s.reviewReason, s.outbox], ["NEEDS_REVIEW", "CURRENCY_MISMATCH", 0]);
});

test("secret rotation: the second configured secret is accepted too", async ({ sys, db }) => {
  const { paymentId } = await pendingPayment(db);
  assert.equal(await deliver(sys, eventBody(paymentId, WebhookEventType.PAYMENT_SUCCEEDED), { secret: SECRET_B }), { status: 200, outcome: "APPLIED" });
  assert.is((await state(db, paymentId)).status, "SUCCEEDED");
});

test("malformed bodies → 400; an unknown payment → 200 UNKNOWN_PAYMENT (recorded)", async ({ sys, db }) => {
  for (const raw of ["{not json", JSON.stringify({ eventId: "e1", type: "WEBHOOK_EVENT_TYPE_PAYMENT_SUCCEEDED" }), JSON.stringify({ eventId: "", type: 1, paymentId: randomUUID() })]) {
    assert.is((await deliver(sys, Buffer.from(raw))).status, 400, raw);
  }
  const eventId = `evt_${randomUUID()}`;
  assert.equal(await deliver(sys, eventBody(randomUUID(), WebhookEventType.PAYMENT_SUCCEEDED, { eventId })), { status: 200, outcome: "UNKNOWN_PAYMENT" });
  const rec = await db.query(`SELECT outcome FROM payment.gateway_events WHERE event_id = $1`, [eventId]);
  assert.is(rec.rows[0]?.outcome, "UNKNOWN_PAYMENT");
  // A reference that belongs to another gateway payment than the event's is not applied.
  const { paymentId } = await pendingPayment(db, 10_000n, { gatewayPaymentId: "pay_real" });
  assert.equal(await deliver(sys, eventBody(paymentId, WebhookEventType.PAYMENT_SUCCEEDED, { gatewayPaymentId: "pay_other" })), { status: 200, outcome: "UNKNOWN_PAYMENT" });
  assert.is((await state(db, paymentId)).status, "PENDING");
});

test("ReconcileWebhook is internal: the gateway does not expose it as an RPC", async ({ sys }) => {
  const res = await fetch(`${sys.gatewayUrl}/fuel.payment.v1.PaymentService/ReconcileWebhook`, {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": randomUUID() },
    body: JSON.stringify({ gateway: "simulated", rawBody: "", timestampHeader: "", signatureHeader: "" }),
  });
  assert.ok([403, 404, 401].includes(res.status), String(res.status));
});

test("the simulated gateway process delivers its own signed events; a redelivery is a duplicate", async ({ sys, db }) => {
  const gw = sys.paymentGateway!;
  assert.ok(gw, "simulated gateway running");
  const { paymentId } = await pendingPayment(db, 4_200n);
  const created = await fetch(`${gw.url}/v1/payments`, {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": paymentId },
    body: JSON.stringify({ reference: paymentId, amount_minor: "4200", currency: "NGN", description: "test" }),
  });
  assert.is(created.status, 201);
  const gp = (await created.json()) as { id: string };
  const sim = await fetch(`${gw.url}/v1/payments/${gp.id}/simulate`, { method: "POST", body: JSON.stringify({ outcome: "succeeded" }) });
  const { event_id } = (await sim.json()) as { event_id: string };
  let s = await state(db, paymentId);
  for (let i = 0; i < 100 && s.status === "PENDING"; i++) {
    await new Promise((r) => setTimeout(r, 50));
    s = await state(db, paymentId);
  }
  assert.equal([s.status, s.outbox, s.events], ["SUCCEEDED", 2, 1]);
  const ev = (await (await fetch(`${gw.url}/v1/events?payment_id=${gp.id}`)).json()) as { data: Array<{ event_id: string; delivered: boolean; attempts: Array<{ status: number }> }> };
  assert.is(ev.data[0]?.event_id, event_id);
  assert.is(ev.data[0]?.delivered, true);
  assert.is(ev.data[0]?.attempts.at(-1)?.status, 200);
  const again = (await (await fetch(`${gw.url}/v1/events/${event_id}/redeliver`, { method: "POST" })).json()) as { status: number };
  assert.is(again.status, 200);
  s = await state(db, paymentId);
  assert.equal([s.status, s.outbox, s.events], ["SUCCEEDED", 2, 1]);
  const row = await db.query(`SELECT gateway_payment_id FROM payment.payments WHERE payment_id = $1`, [paymentId]);
  assert.is(row.rows[0].gateway_payment_id, gp.id);
});

test.run();
