// Unit tests of PaymentService's pure rules: webhook signatures (rotation, constant-time
// candidates, timestamp window), the status transition rule under every event order,
// amount matching and allocation resolution, allocation results, the relay's backoff,
// request validation, and parsing of webhook bodies and gateway answers.
import { createHmac } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { Code, ConnectError } from "@connectrpc/connect";
import { create, toJsonString } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { MoneySchema } from "../gen/fuel/common/v1/common_pb.js";
import { InitiatePaymentRequestSchema, PaymentMethod, WebhookEventSchema, WebhookEventType } from "../gen/fuel/payment/v1/payment_pb.js";
import { BadRequestSchema } from "../gen/google/rpc/error_details_pb.js";
import { reasonOf } from "../platform/errors.js";
import { allocationResult, matchReceived, resolveAllocations, type LoanBalance } from "../services/payment/amount-rule.js";
import { parseGatewayPayment } from "../services/payment/gateway-client.js";
import { validateInitiate, validateReturnUrl } from "../services/payment/initiate.js";
import { backoffMs } from "../services/payment/outbox.js";
import { parseSignatures, sign, signatureHeader, verifyDelivery } from "../services/payment/signature.js";
import { canTransition, decideEvent, type EventKind, type PayStatus } from "../services/payment/status-rule.js";
import { parseWebhookEvent } from "../services/payment/webhook-event.js";

const test = suite("payment rules");

function caught(fn: () => unknown): ConnectError {
  try {
    fn();
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected an error");
}
const fieldOf = (e: ConnectError) => e.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.field;

// ---- signatures ----------------------------------------------------------------------

const S1 = "first-secret-0123456789";
const S2 = "second-secret-0123456789";
const body = Buffer.from('{"eventId":"evt_1"}');
const nowMs = 1_700_000_000_000;
const ts = String(nowMs / 1000);

test("signature: the documented HMAC over `timestamp.body` in lowercase hex", () => {
  // Computed independently of signature.ts, straight from the contract's wording.
  const expected = createHmac("sha256", S1).update(`${ts}.${body.toString("utf8")}`).digest("hex");
  assert.is(sign(S1, ts, body), expected);
  assert.is(signatureHeader(S1, ts, body), `v1=${expected}`);
  assert.ok(verifyDelivery({ rawBody: body, timestampHeader: ts, signatureHeader: `v1=${expected}` }, [S1], nowMs).ok);
});

test("signature: any configured secret matches (rotation), an unknown one does not", () => {
  const h2 = signatureHeader(S2, ts, body);
  const r = verifyDelivery({ rawBody: body, timestampHeader: ts, signatureHeader: h2 }, [S1, S2], nowMs);
  assert.equal(r, { ok: true, timestampSeconds: nowMs / 1000, secretIndex: 1 });
  const bad = verifyDelivery({ rawBody: body, timestampHeader: ts, signatureHeader: h2 }, [S1], nowMs);
  assert.equal(bad.ok ? "" : bad.reason, "WEBHOOK_SIGNATURE_INVALID");
});

test("signature: several candidates in one header, other schemes ignored", () => {
  const good = sign(S1, ts, body);
  const header = `v0=${"a".repeat(64)}, v1=${"0".repeat(64)}, v1=${good}`;
  assert.is(parseSignatures(header).length, 2);
  assert.ok(verifyDelivery({ rawBody: body, timestampHeader: ts, signatureHeader: header }, [S1], nowMs).ok);
});

test("signature: any change to body, timestamp or signature is refused", () => {
  const h = signatureHeader(S1, ts, body);
  const cases = [
    { rawBody: Buffer.from('{"eventId":"evt_2"}'), timestampHeader: ts, signatureHeader: h },
    { rawBody: body, timestampHeader: String(Number(ts) + 1), signatureHeader: h },
    { rawBody: body, timestampHeader: ts, signatureHeader: h.slice(0, -1) + (h.endsWith("0") ? "1" : "0") },
    { rawBody: body, timestampHeader: ts, signatureHeader: "" },
    { rawBody: body, timestampHeader: ts, signatureHeader: h.toUpperCase().replace("V1", "v2") },
    { rawBody: body, timestampHeader: "", signatureHeader: h },
    { rawBody: body, timestampHeader: "12abc", signatureHeader: h },
  ];
  for (const c of cases) {
    const r = verifyDelivery(c, [S1, S2], nowMs);
    assert.is(r.ok ? "" : r.reason, "WEBHOOK_SIGNATURE_INVALID", JSON.stringify({ ts: c.timestampHeader, sig: c.signatureHeader }));
  }
  assert.not.ok(verifyDelivery({ rawBody: body, timestampHeader: ts, signatureHeader: h }, [], nowMs).ok);
});

test("signature: timestamp must be within 300 s either way", () => {
  for (const [offset, ok] of [[0, true], [300, true], [-300, true], [301, false], [-301, false], [86_400, false]] as const) {
    const t = String(nowMs / 1000 + offset);
    const r = verifyDelivery({ rawBody: body, timestampHeader: t, signatureHeader: signatureHeader(S1, t, body) }, [S1], nowMs);
    assert.is(r.ok, ok, `offset ${offset}`);
    if (!r.ok) assert.is(r.reason, "WEBHOOK_TIMESTAMP_STALE");
  }
});

test("signature: property — verify(sign(x)) holds and a flipped byte fails", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.string({ minLength: 16, maxLength: 40 }), fc.nat(), (bytes, secret, flip) => {
      const raw = Buffer.from(bytes);
      const h = signatureHeader(secret, ts, raw);
      if (!verifyDelivery({ rawBody: raw, timestampHeader: ts, signatureHeader: h }, [secret], nowMs).ok) return false;
      if (raw.length === 0) return true;
      const tampered = Buffer.from(raw);
      tampered[flip % raw.length] = tampered[flip % raw.length]! ^ 0x01;
      return !verifyDelivery({ rawBody: tampered, timestampHeader: ts, signatureHeader: h }, [secret], nowMs).ok;
    }),
    { numRuns: 200 },
  );
});

// ---- status rule ---------------------------------------------------------------------

const NGN = (amount: bigint) => ({ amount, currency: "NGN" });

test("status: only forward; FAILED→SUCCEEDED ok; SUCCEEDED final", () => {
  assert.ok(canTransition("PENDING", "SUCCEEDED"));
  assert.ok(canTransition("PENDING", "FAILED"));
  assert.ok(canTransition("PENDING", "EXPIRED"));
  assert.ok(canTransition("FAILED", "SUCCEEDED"));
  assert.ok(canTransition("SUCCEEDED", "NEEDS_REVIEW"));
  for (const to of ["PENDING", "FAILED", "EXPIRED"] as PayStatus[]) assert.not.ok(canTransition("SUCCEEDED", to), `SUCCEEDED→${to}`);
  for (const to of ["PENDING", "SUCCEEDED", "FAILED", "EXPIRED"] as PayStatus[]) assert.not.ok(canTransition("NEEDS_REVIEW", to), `NEEDS_REVIEW→${to}`);
  assert.not.ok(canTransition("FAILED", "PENDING"));
  assert.not.ok(canTransition("FAILED", "EXPIRED"));
});

test("status: events decide outcomes", () => {
  assert.equal(decideEvent("PENDING", "SUCCEEDED", NGN(500n), NGN(500n)), { outcome: "APPLIED", status: "SUCCEEDED" });
  assert.equal(decideEvent("PENDING", "FAILED", NGN(500n)), { outcome: "APPLIED", status: "FAILED" });
  assert.equal(decideEvent("SUCCEEDED", "FAILED", NGN(500n)), { outcome: "IGNORED_OUT_OF_ORDER", status: "SUCCEEDED" });
  assert.equal(decideEvent("SUCCEEDED", "EXPIRED", NGN(500n)), { outcome: "IGNORED_OUT_OF_ORDER", status: "SUCCEEDED" });
  assert.equal(decideEvent("SUCCEEDED", "SUCCEEDED", NGN(500n), NGN(500n)), { outcome: "UNCHANGED", status: "SUCCEEDED" });
  assert.equal(decideEvent("FAILED", "SUCCEEDED", NGN(500n), NGN(500n)), { outcome: "APPLIED", status: "SUCCEEDED" });
  assert.equal(decideEvent("FAILED", "FAILED", NGN(500n)), { outcome: "UNCHANGED", status: "FAILED" });
  assert.equal(decideEvent("PENDING", "SUCCEEDED", NGN(500n), NGN(499n)), { outcome: "FLAGGED", status: "NEEDS_REVIEW", reviewReason: "AMOUNT_MISMATCH" });
  assert.equal(decideEvent("PENDING", "SUCCEEDED", NGN(500n), { amount: 500n, currency: "KES" }), { outcome: "FLAGGED", status: "NEEDS_REVIEW", reviewReason: "CURRENCY_MISMATCH" });
  assert.equal(decideEvent("PENDING", "SUCCEEDED", NGN(500n)), { outcome: "FLAGGED", status: "NEEDS_REVIEW", reviewReason: "AMOUNT_MISMATCH" });
  assert.equal(decideEvent("NEEDS_REVIEW", "FAILED", NGN(500n)).status, "NEEDS_REVIEW");
  assert.equal(decideEvent("NEEDS_REVIEW", "SUCCEEDED", NGN(500n), NGN(500n)).status, "NEEDS_REVIEW");
});

test("status: property — any order of events never leaves SUCCEEDED once reached, and a matching success always wins", () => {
  const kinds: EventKind[] = ["SUCCEEDED", "FAILED", "EXPIRED"];
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...kinds), { minLength: 1, maxLength: 8 }), (events) => {
      let s: PayStatus = "PENDING";
      let succeeded = false;
      for (const k of events) {
        const d = decideEvent(s, k, NGN(100n), NGN(100n));
        if (succeeded && d.status !== "SUCCEEDED") return false;
        if (d.status !== s && !canTransition(s, d.status)) return false;
        s = d.status;
        succeeded ||= s === "SUCCEEDED";
      }
      return events.includes("SUCCEEDED") ? s === "SUCCEEDED" : s !== "SUCCEEDED";
    }),
    { numRuns: 300 },
  );
});

// ---- amounts -------------------------------------------------------------------------

const loan = (loanId: string, outstanding: bigint, currency = "NGN", paidOff = false): LoanBalance => ({ loanId, currency, totalOutstanding: outstanding, paidOff });

test("amount: matching is exact in amount and currency", () => {
  assert.is(matchReceived(NGN(10n), NGN(10n)), null);
  assert.is(matchReceived(NGN(10n), NGN(11n)), "AMOUNT_MISMATCH");
  assert.is(matchReceived(NGN(10n), { amount: 10n, currency: "USD" }), "CURRENCY_MISMATCH");
});

test("amount: allocations resolve against outstanding balances", () => {
  const r = resolveAllocations([{ loanId: "a", amount: NGN(300n) }, { loanId: "b" }], [loan("a", 1000n), loan("b", 250n)]);
  assert.equal(r, { currency: "NGN", total: 550n, allocations: [{ loanId: "a", amount: 300n }, { loanId: "b", amount: 250n }] });
  const exceeds = caught(() => resolveAllocations([{ loanId: "a", amount: NGN(1001n) }], [loan("a", 1000n)]));
  assert.is(exceeds.code, Code.FailedPrecondition);
  assert.is(reasonOf(exceeds), "AMOUNT_EXCEEDS_OUTSTANDING");
  const paid = caught(() => resolveAllocations([{ loanId: "a" }], [loan("a", 0n, "NGN", true)]));
  assert.is(reasonOf(paid), "LOAN_PAID_OFF");
  const mixed = caught(() => resolveAllocations([{ loanId: "a" }, { loanId: "b" }], [loan("a", 10n), loan("b", 10n, "KES")]));
  assert.is(mixed.code, Code.InvalidArgument);
  assert.is(fieldOf(mixed), "allocations[1].loan_id");
  const wrongCur = caught(() => resolveAllocations([{ loanId: "a", amount: { amount: 5n, currency: "KES" } }], [loan("a", 10n)]));
  assert.is(fieldOf(wrongCur), "allocations[0].amount.currency");
});

test("amount: allocation results after the loan took what it needed", () => {
  assert.equal(allocationResult(500n, 0n), { applied: 500n, status: "APPLIED" });
  assert.equal(allocationResult(500n, 120n), { applied: 380n, status: "PARTIALLY_APPLIED" });
  assert.equal(allocationResult(500n, 500n), { applied: 0n, status: "NOT_APPLIED" });
  assert.equal(allocationResult(500n, 900n), { applied: 0n, status: "NOT_APPLIED" });
});

test("outbox backoff: exponential, capped, jittered within [exp/2, exp]", () => {
  const o = { baseBackoffMs: 500, maxBackoffMs: 10_000 };
  assert.is(backoffMs(1, o, () => 1), 500);
  assert.is(backoffMs(3, o, () => 1), 2000);
  assert.is(backoffMs(3, o, () => 0), 1000);
  assert.is(backoffMs(50, o, () => 1), 10_000);
  assert.is(backoffMs(5000, o, () => 1), 10_000);
});

// ---- request validation --------------------------------------------------------------

const LOAN_A = "2f1e9d4c-8a7b-4c6d-9e5f-1a2b3c4d5e6f";
const LOAN_B = "3f1e9d4c-8a7b-4c6d-9e5f-1a2b3c4d5e6f";

test("initiate validation names the bad field", () => {
  const req = (over: Record<string, unknown>) => create(InitiatePaymentRequestSchema, { allocations: [{ loanId: LOAN_A }], method: PaymentMethod.CARD, ...over });
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ allocations: [] }, "allocations"],
    [{ allocations: Array.from({ length: 51 }, () => ({ loanId: LOAN_A })) }, "allocations"],
    [{ allocations: [{ loanId: "nope" }] }, "allocations[0].loan_id"],
    [{ allocations: [{ loanId: LOAN_A }, { loanId: LOAN_A.toUpperCase() }] }, "allocations[1].loan_id"],
    [{ allocations: [{ loanId: LOAN_A, amount: { amountMinor: 0n, currency: "NGN" } }] }, "allocations[0].amount.amount_minor"],
    [{ allocations: [{ loanId: LOAN_A, amount: { amountMinor: -5n, currency: "NGN" } }] }, "allocations[0].amount.amount_minor"],
    [{ allocations: [{ loanId: LOAN_A, amount: { amountMinor: 5n, currency: "ngn" } }] }, "allocations[0].amount.currency"],
    [{ allocations: [{ loanId: LOAN_A, amount: { amountMinor: 5n, currency: "NGN" } }, { loanId: LOAN_B, amount: { amountMinor: 5n, currency: "KES" } }] }, "allocations[1].amount.currency"],
    [{ method: PaymentMethod.UNSPECIFIED }, "method"],
    [{ method: 99 }, "method"],
    [{ returnUrl: "http://example.com/back" }, "return_url"],
    [{ returnUrl: "javascript:alert(1)" }, "return_url"],
    [{ returnUrl: `https://example.com/${"x".repeat(2048)}` }, "return_url"],
  ];
  for (const [over, field] of cases) {
    const e = caught(() => validateInitiate(req(over), true));
    assert.is(e.code, Code.InvalidArgument, field);
    assert.is(fieldOf(e), field, JSON.stringify(over, (_k, x) => (typeof x === "bigint" ? String(x) : x)).slice(0, 80));
  }
  const ok = validateInitiate(req({ allocations: [{ loanId: LOAN_A, amount: { amountMinor: 5n, currency: "NGN" } }, { loanId: LOAN_B }], returnUrl: "https://app.example/paid" }), true);
  assert.equal(ok.requested, [{ loanId: LOAN_A, amount: { amount: 5n, currency: "NGN" } }, { loanId: LOAN_B }]);
  assert.is(ok.method, "CARD");
  assert.is(validateReturnUrl("http://localhost:3000/x", false), "http://localhost:3000/x");
  assert.is(caught(() => validateReturnUrl("http://localhost:3000/x", true)).code, Code.InvalidArgument);
});

// ---- parsing -------------------------------------------------------------------------

const event = (over: Record<string, unknown> = {}) =>
  Buffer.from(
    toJsonString(
      WebhookEventSchema,
      create(WebhookEventSchema, {
        eventId: "evt_1",
        type: WebhookEventType.PAYMENT_SUCCEEDED,
        paymentId: LOAN_A,
        gatewayPaymentId: "pay_1",
        amount: create(MoneySchema, { amountMinor: 12345678901234567n, currency: "NGN" }),
        occurTime: timestampFromDate(new Date(nowMs)),
        ...over,
      }),
    ),
  );

test("webhook body: proto3 JSON parses, int64 amounts exact", () => {
  const { event: e } = parseWebhookEvent(event());
  assert.is(e.kind, "SUCCEEDED");
  assert.equal(e.amount, { amount: 12345678901234567n, currency: "NGN" });
  assert.is(e.occurTime?.getTime(), nowMs);
  // Original proto field names are accepted too (proto3 JSON parsers must).
  const snake = Buffer.from(JSON.stringify({ event_id: "e2", type: "WEBHOOK_EVENT_TYPE_PAYMENT_FAILED", payment_id: LOAN_A, failure_code: "card_declined", unknown_field: 1 }));
  const f = parseWebhookEvent(snake).event;
  assert.is(f.kind, "FAILED");
  assert.is(f.failureCode, "card_declined");
});

test("webhook body: malformed → INVALID_ARGUMENT WEBHOOK_PAYLOAD_INVALID", () => {
  const bodies = [
    Buffer.from("not json"),
    Buffer.from("[]"),
    event({ eventId: "" }),
    event({ type: WebhookEventType.UNSPECIFIED }),
    event({ paymentId: "" }),
    event({ amount: undefined }),
    Buffer.from(JSON.stringify({ eventId: "e", type: "WEBHOOK_EVENT_TYPE_PAYMENT_SUCCEEDED", paymentId: LOAN_A, amount: { amountMinor: "1.5", currency: "NGN" } })),
  ];
  for (const b of bodies) {
    const e = caught(() => parseWebhookEvent(b));
    assert.is(e.code, Code.InvalidArgument, b.toString().slice(0, 60));
    assert.is(reasonOf(e), "WEBHOOK_PAYLOAD_INVALID");
  }
});

test("gateway answers: parsed strictly, amounts as exact integers", () => {
  const p = parseGatewayPayment({ id: "pay_1", reference: "r", status: "succeeded", amount_minor: "9007199254740993", currency: "NGN", amount_received_minor: "9007199254740993", checkout_url: "https://x" });
  assert.is(p.amountMinor, 9007199254740993n);
  assert.equal(p.received, { amount: 9007199254740993n, currency: "NGN" });
  for (const bad of [null, {}, { id: "x", status: "weird", amount_minor: "1", currency: "NGN" }, { id: "x", status: "pending", amount_minor: 1.5, currency: "NGN" }]) {
    let threw = false;
    try {
      parseGatewayPayment(bad);
    } catch {
      threw = true;
    }
    assert.ok(threw, JSON.stringify(bad));
  }
});

test.run();
