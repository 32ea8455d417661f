// PaymentService with real loans, through the gateway as the apps call it (Connect JSON
// over HTTP/1.1), the simulated gateway process and real LoanService:
// InitiatePayment (ownership, validation, idempotency — also with the Redis key lost and
// under concurrency — never a second gateway charge), the whole repayment path
// (checkout → signed webhook → outbox → LoanService.ApplyRepayment → loan repaid),
// overpayment flagged for review, object-level access and history filters/pagination,
// SyncPendingPayments for a payment whose webhook never came, and a gateway outage.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { randomUUID } from "node:crypto";
import pg from "pg";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Role } from "../gen/fuel/common/v1/common_pb.js";
import { LoanService, LoanStatus, type Loan } from "../gen/fuel/loan/v1/loan_pb.js";
import {
  AllocationStatus,
  PaymentMethod,
  PaymentService,
  PaymentStatus,
  ReconcileOutcome,
  ReviewReason,
  type Payment,
} from "../gen/fuel/payment/v1/payment_pb.js";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import type { Principal } from "../platform/context.js";
import { meshInterceptor } from "../platform/mesh.js";
import { ServiceTokens } from "../platform/tokens.js";
import { expectError } from "./helpers/rpc.js";
import { connectJson } from "./helpers/clients.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";

interface Actor {
  p: Principal;
  payments: Client<typeof PaymentService>;
  loans: Client<typeof LoanService>;
}

interface Ctx {
  sys: TestSystem;
  db: pg.Client;
  loanSvc: Client<typeof LoanService>;
  bankId: string;
  agencyId: string;
  alice: Actor; // driver of the agency
  bob: Actor; // independent driver
  agency: Actor;
  bank: Actor;
  otherBank: Actor;
  admin: Actor;
}

const test = suite<Ctx>("payment flow");
const idem = (key: string = randomUUID()) => ({ headers: { "idempotency-key": key } });

async function until<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let v = await fn();
  while (!ok(v)) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? String(x) : x))}`);
    await new Promise((r) => setTimeout(r, 100));
    v = await fn();
  }
  return v;
}

async function actor(sys: TestSystem, p: Principal): Promise<Actor> {
  const token = await mintAccessToken(sys, p);
  return { p, payments: connectJson(PaymentService, sys.gatewayUrl, token), loans: connectJson(LoanService, sys.gatewayUrl, token) };
}

async function newLoan(ctx: Ctx, driver: Principal, principalMinor: bigint): Promise<Loan> {
  const res = await ctx.loanSvc.createLoanFromSettlement(
    {
      transactionId: randomUUID(),
      driverId: driver.driverId,
      agencyId: driver.agencyId,
      bankId: ctx.bankId,
      creditLineId: randomUUID(),
      principal: { amountMinor: principalMinor, currency: "NGN" },
      settleTime: timestampFromDate(ctx.sys.clock.now()),
    },
    idem(),
  );
  return res.loan!;
}

async function gatewayPayment(sys: TestSystem, gatewayId: string) {
  return (await (await fetch(`${sys.paymentGateway!.url}/v1/payments/${gatewayId}`)).json()) as { status: string; reference: string };
}

async function simulate(sys: TestSystem, gatewayId: string, body: Record<string, unknown>) {
  const res = await fetch(`${sys.paymentGateway!.url}/v1/payments/${gatewayId}/simulate`, { method: "POST", body: JSON.stringify(body) });
  assert.is(res.status, 200, await res.clone().text());
  return (await res.json()) as { event_id: string | null };
}

const pay = (a: Actor, allocations: Array<{ loanId: string; amount?: bigint }>, key?: string) =>
  a.payments.initiatePayment(
    {
      allocations: allocations.map((x) => ({ loanId: x.loanId, amount: x.amount === undefined ? undefined : { amountMinor: x.amount, currency: "NGN" } })),
      method: PaymentMethod.CARD,
      returnUrl: "https://app.example/paid",
    },
    idem(key),
  );

const settled = (a: Actor, paymentId: string) =>
  until(
    "allocations applied",
    async () => (await a.payments.getPayment({ paymentId })).payment!,
    (p: Payment) => p.allocations.every((x) => x.status !== AllocationStatus.PENDING),
  );

test.before(async (ctx) => {
  ctx.sys = await startTestSystem({ services: ["auth", "loan", "payment"], env: { PAYMENT_SYNC_INTERVAL_MS: "0" } });
  ctx.db = new pg.Client({ connectionString: ctx.sys.databaseUrl });
  await ctx.db.connect();
  ctx.loanSvc = createClient(
    LoanService,
    createGrpcTransport({ baseUrl: ctx.sys.cfg.urls.loan, interceptors: [meshInterceptor(new ServiceTokens(ctx.sys.cfg.meshSecret, "transaction"))] }),
  );
  ctx.bankId = randomUUID();
  ctx.agencyId = randomUUID();
  ctx.alice = await actor(ctx.sys, principal(Role.DRIVER, { driverId: randomUUID(), agencyId: ctx.agencyId }));
  ctx.bob = await actor(ctx.sys, principal(Role.DRIVER, { driverId: randomUUID() }));
  ctx.agency = await actor(ctx.sys, principal(Role.AGENCY_ADMIN, { agencyId: ctx.agencyId }));
  ctx.bank = await actor(ctx.sys, principal(Role.BANK_ADMIN, { bankId: ctx.bankId }));
  ctx.otherBank = await actor(ctx.sys, principal(Role.BANK_ADMIN, { bankId: randomUUID() }));
  ctx.admin = await actor(ctx.sys, principal(Role.SYSTEM_ADMIN));
  // A product without fee or interest: a loan owes exactly its principal.
  await ctx.bank.loans.createLoanProduct({ name: "Fuel 30", currency: "NGN", feeBps: 0, dailyInterestBps: 0, termDays: 30, isDefault: true }, idem());
});

test.after(async (ctx) => {
  await ctx.db?.end();
  await ctx.sys?.stop();
});

test("a driver pays two of their loans: PENDING with a checkout at the gateway, nothing applied yet", async (ctx) => {
  const l1 = await newLoan(ctx, ctx.alice.p, 30_000n);
  const l2 = await newLoan(ctx, ctx.alice.p, 12_500n);
  const { payment } = await pay(ctx.alice, [{ loanId: l1.loanId, amount: 10_000n }, { loanId: l2.loanId }]);
  assert.ok(payment);
  assert.is(payment.status, PaymentStatus.PENDING);
  assert.equal(payment.payer, { case: "driverId", value: ctx.alice.p.driverId });
  assert.is(payment.initiatedBy, ctx.alice.p.subjectId);
  assert.is(payment.amount?.amountMinor, 22_500n);
  assert.equal(payment.allocations.map((a) => [a.loanId, a.amount?.amountMinor, a.status]), [
    [l1.loanId, 10_000n, AllocationStatus.PENDING],
    [l2.loanId, 12_500n, AllocationStatus.PENDING],
  ]);
  assert.is(payment.gateway, "simulated");
  assert.ok(payment.checkoutUrl.startsWith(ctx.sys.paymentGateway!.url), payment.checkoutUrl);
  const g = await gatewayPayment(ctx.sys, payment.gatewayPaymentId);
  assert.equal([g.status, g.reference], ["pending", payment.paymentId]);
  const loan = (await ctx.alice.loans.getLoan({ loanId: l1.loanId })).loan!;
  assert.is(loan.totalOutstanding?.amountMinor, 30_000n);
});

test("idempotent: a retry returns the same payment; Redis losing the key changes nothing; another request with the key is refused", async (ctx) => {
  const l = await newLoan(ctx, ctx.alice.p, 5_000n);
  const key = randomUUID();
  const first = (await pay(ctx.alice, [{ loanId: l.loanId }], key)).payment!;
  const again = (await pay(ctx.alice, [{ loanId: l.loanId }], key)).payment!;
  assert.is(again.paymentId, first.paymentId);
  assert.is(again.checkoutUrl, first.checkoutUrl);
  // The fast path forgets the key (Redis flushed or failed over): Postgres still knows.
  const slot = `idem:payment:fuel.payment.v1.PaymentService/InitiatePayment:${ctx.alice.p.subjectId}:${key}`;
  assert.is(await ctx.sys.infra.kv.del(slot), 1);
  const afterLoss = (await pay(ctx.alice, [{ loanId: l.loanId }], key)).payment!;
  assert.is(afterLoss.paymentId, first.paymentId);
  await expectError(pay(ctx.alice, [{ loanId: l.loanId, amount: 1n }], key), Code.InvalidArgument, { reason: "IDEMPOTENCY_KEY_REUSED" });
  await ctx.sys.infra.kv.del(slot);
  await expectError(pay(ctx.alice, [{ loanId: l.loanId, amount: 1n }], key), Code.InvalidArgument, { reason: "IDEMPOTENCY_KEY_REUSED" });
  const rows = await ctx.db.query(`SELECT count(*)::int AS n FROM payment.payments p JOIN payment.allocations a USING (payment_id) WHERE a.loan_id = $1`, [l.loanId]);
  assert.is(rows.rows[0].n, 1);
  const atGateway = (await (await fetch(`${ctx.sys.paymentGateway!.url}/v1/payments?reference=${first.paymentId}`)).json()) as { data: unknown[] };
  assert.is(atGateway.data.length, 1);
});

test("concurrent initiations with one key make one payment and one gateway charge", async (ctx) => {
  const l = await newLoan(ctx, ctx.alice.p, 7_000n);
  const key = randomUUID();
  const results = await Promise.allSettled(Array.from({ length: 10 }, () => pay(ctx.alice, [{ loanId: l.loanId }], key)));
  const ok = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.payment!.paymentId] : []));
  for (const r of results) if (r.status === "rejected") assert.is(ConnectError.from(r.reason).code, Code.Aborted);
  assert.ok(ok.length >= 1);
  assert.is(new Set(ok).size, 1);
  const rows = await ctx.db.query(`SELECT payment_id FROM payment.payments p JOIN payment.allocations a USING (payment_id) WHERE a.loan_id = $1`, [l.loanId]);
  assert.is(rows.rows.length, 1);
  const atGateway = (await (await fetch(`${ctx.sys.paymentGateway!.url}/v1/payments?reference=${rows.rows[0].payment_id}`)).json()) as { data: unknown[] };
  assert.is(atGateway.data.length, 1);
});

test("loans must be the payer's and the amounts must fit", async (ctx) => {
  const alices = await newLoan(ctx, ctx.alice.p, 8_000n);
  const bobs = await newLoan(ctx, ctx.bob.p, 8_000n);
  const e = await expectError(pay(ctx.alice, [{ loanId: bobs.loanId }]), Code.NotFound);
  assert.is(e.findDetails(ErrorInfoSchema)[0]?.metadata.loan_id, bobs.loanId);
  await expectError(pay(ctx.alice, [{ loanId: randomUUID() }]), Code.NotFound);
  await expectError(pay(ctx.bob, [{ loanId: alices.loanId }]), Code.NotFound);
  const over = await expectError(pay(ctx.alice, [{ loanId: alices.loanId, amount: 8_001n }]), Code.FailedPrecondition, { reason: "AMOUNT_EXCEEDS_OUTSTANDING" });
  assert.equal(over.findDetails(ErrorInfoSchema)[0]?.metadata.outstanding_minor, "8000");
  await expectError(pay(ctx.alice, [{ loanId: alices.loanId }, { loanId: alices.loanId }]), Code.InvalidArgument, { field: "allocations[1].loan_id" });
  await expectError(pay(ctx.alice, []), Code.InvalidArgument, { field: "allocations" });
  await expectError(pay(ctx.alice, [{ loanId: alices.loanId, amount: 0n }]), Code.InvalidArgument, { field: "allocations[0].amount.amount_minor" });
  await expectError(
    ctx.alice.payments.initiatePayment({ allocations: [{ loanId: alices.loanId }], method: PaymentMethod.CARD, returnUrl: "ftp://x" }, idem()),
    Code.InvalidArgument,
    { field: "return_url" },
  );
  // Roles outside the policy are refused before any of that.
  await expectError(pay(ctx.bank, [{ loanId: alices.loanId }]), Code.PermissionDenied);
  // No payment was recorded by any refused call.
  const rows = await ctx.db.query(`SELECT count(*)::int AS n FROM payment.allocations WHERE loan_id = ANY($1::uuid[])`, [[alices.loanId, bobs.loanId]]);
  assert.is(rows.rows[0].n, 0);
});

test("the whole path: checkout succeeds → signed webhook → ApplyRepayment per allocation → loans repaid", async (ctx) => {
  const l1 = await newLoan(ctx, ctx.alice.p, 20_000n);
  const l2 = await newLoan(ctx, ctx.alice.p, 4_000n);
  const { payment } = await pay(ctx.alice, [{ loanId: l1.loanId, amount: 15_000n }, { loanId: l2.loanId }]);
  await simulate(ctx.sys, payment!.gatewayPaymentId, { outcome: "succeeded" });
  const done = await settled(ctx.alice, payment!.paymentId);
  assert.is(done.status, PaymentStatus.SUCCEEDED);
  assert.is(done.amountReceived?.amountMinor, 19_000n);
  assert.is(done.unappliedAmount?.amountMinor, 0n);
  assert.is(done.checkoutUrl, "");
  assert.ok(done.succeedTime);
  for (const a of done.allocations) {
    assert.is(a.status, AllocationStatus.APPLIED);
    assert.is(a.appliedAmount?.amountMinor, a.amount?.amountMinor);
    assert.ok(a.repaymentId, "repayment id recorded");
  }
  const loan1 = (await ctx.alice.loans.getLoan({ loanId: l1.loanId })).loan!;
  const loan2 = (await ctx.alice.loans.getLoan({ loanId: l2.loanId })).loan!;
  assert.is(loan1.totalOutstanding?.amountMinor, 5_000n);
  assert.is(loan2.totalOutstanding?.amountMinor, 0n);
  assert.is(loan2.status, LoanStatus.PAID_OFF);
  // Exactly one repayment per allocation, whatever the retries.
  const st = await ctx.alice.loans.getLoanStatement({ loanId: l1.loanId });
  assert.equal(st.repayments.map((r) => [r.paymentId, r.amount?.amountMinor]), [[payment!.paymentId, 15_000n]]);
  // A paid-off loan cannot be paid again.
  await expectError(pay(ctx.alice, [{ loanId: l2.loanId }]), Code.FailedPrecondition, { reason: "LOAN_PAID_OFF" });
});

test("a failed checkout applies nothing; paying the same loan twice flags the excess (OVERPAYMENT)", async (ctx) => {
  const l = await newLoan(ctx, ctx.alice.p, 6_000n);
  const failed = (await pay(ctx.alice, [{ loanId: l.loanId }])).payment!;
  await simulate(ctx.sys, failed.gatewayPaymentId, { outcome: "failed", failure_code: "insufficient_funds" });
  const f = await until("failed", async () => (await ctx.alice.payments.getPayment({ paymentId: failed.paymentId })).payment!, (p) => p.status === PaymentStatus.FAILED);
  assert.is(f.failureCode, "insufficient_funds");
  const a = (await pay(ctx.alice, [{ loanId: l.loanId }])).payment!;
  const b = (await pay(ctx.alice, [{ loanId: l.loanId }])).payment!;
  await simulate(ctx.sys, a.gatewayPaymentId, { outcome: "succeeded" });
  const pa = await settled(ctx.alice, a.paymentId);
  assert.equal([pa.status, pa.allocations[0]?.status], [PaymentStatus.SUCCEEDED, AllocationStatus.APPLIED]);
  await simulate(ctx.sys, b.gatewayPaymentId, { outcome: "succeeded" });
  const pb = await settled(ctx.alice, b.paymentId);
  assert.is(pb.status, PaymentStatus.NEEDS_REVIEW);
  assert.is(pb.reviewReason, ReviewReason.OVERPAYMENT);
  assert.is(pb.unappliedAmount?.amountMinor, 6_000n);
  assert.equal([pb.allocations[0]?.status, pb.allocations[0]?.appliedAmount?.amountMinor], [AllocationStatus.NOT_APPLIED, 0n]);
  const loan = (await ctx.alice.loans.getLoan({ loanId: l.loanId })).loan!;
  assert.equal([loan.status, loan.totalRepaid?.amountMinor], [LoanStatus.PAID_OFF, 6_000n]);
  // The failed payment stayed failed and applied nothing.
  const fr = (await ctx.alice.payments.getPayment({ paymentId: failed.paymentId })).payment!;
  assert.equal([fr.status, fr.allocations[0]?.status], [PaymentStatus.FAILED, AllocationStatus.PENDING]);
});

test("an agency admin pays for its driver's loan; object-level access for every role", async (ctx) => {
  const l = await newLoan(ctx, ctx.alice.p, 9_000n);
  const { payment } = await pay(ctx.agency, [{ loanId: l.loanId, amount: 1_000n }]);
  assert.equal(payment!.payer, { case: "agencyId", value: ctx.agencyId });
  const id = payment!.paymentId;
  // The agency sees it; the bank that lent sees it; the operator sees it.
  for (const who of [ctx.agency, ctx.bank, ctx.admin]) assert.is((await who.payments.getPayment({ paymentId: id })).payment?.paymentId, id);
  // Another driver and another bank get NOT_FOUND. (Alice did not make it: a driver sees payments they made.)
  for (const who of [ctx.bob, ctx.otherBank, ctx.alice]) await expectError(who.payments.getPayment({ paymentId: id }), Code.NotFound);
  await expectError(ctx.alice.payments.getPayment({ paymentId: "nope" }), Code.InvalidArgument, { field: "payment_id" });
  // An agency cannot pay a loan of a driver outside it.
  const bobs = await newLoan(ctx, ctx.bob.p, 1_000n);
  await expectError(pay(ctx.agency, [{ loanId: bobs.loanId }]), Code.NotFound);
  // Bob's history holds none of Alice's or the agency's payments.
  const bobList = await ctx.bob.payments.listPayments({});
  assert.ok(bobList.payments.every((p) => p.payer.case === "driverId" && p.payer.value === ctx.bob.p.driverId));
  const otherBank = await ctx.otherBank.payments.listPayments({});
  assert.is(otherBank.payments.length, 0);
});

test("history: newest first, filtered by status, loan and date, keyset-paginated", async (ctx) => {
  const l = await newLoan(ctx, ctx.alice.p, 50_000n);
  const made: string[] = [];
  for (let i = 0; i < 5; i++) made.push((await pay(ctx.alice, [{ loanId: l.loanId, amount: 100n + BigInt(i) }])).payment!.paymentId);
  const byLoan = await ctx.alice.payments.listPayments({ loanId: l.loanId });
  assert.equal(byLoan.payments.map((p) => p.paymentId), [...made].reverse());
  // Pages of two, following the tokens, give the same list with no repeats.
  const seen: string[] = [];
  let token = "";
  let pages = 0;
  do {
    const page = await ctx.alice.payments.listPayments({ loanId: l.loanId, pageSize: 2, pageToken: token });
    seen.push(...page.payments.map((p) => p.paymentId));
    token = page.nextPageToken;
    pages++;
  } while (token && pages < 10);
  assert.equal(seen, [...made].reverse());
  assert.is(pages, 3);
  // Status filter: mark one failed at the gateway.
  const g = (await ctx.alice.payments.getPayment({ paymentId: made[0]! })).payment!;
  await simulate(ctx.sys, g.gatewayPaymentId, { outcome: "failed" });
  await until("failed", async () => (await ctx.alice.payments.getPayment({ paymentId: made[0]! })).payment!.status, (s) => s === PaymentStatus.FAILED);
  const failed = await ctx.alice.payments.listPayments({ loanId: l.loanId, statuses: [PaymentStatus.FAILED] });
  assert.equal(failed.payments.map((p) => p.paymentId), [made[0]]);
  const pending = await ctx.alice.payments.listPayments({ loanId: l.loanId, statuses: [PaymentStatus.PENDING] });
  assert.is(pending.payments.length, 4);
  // Date range: created at or after the third payment.
  const third = (await ctx.alice.payments.getPayment({ paymentId: made[2]! })).payment!;
  const since = await ctx.alice.payments.listPayments({ loanId: l.loanId, startTime: third.createTime });
  assert.equal(since.payments.map((p) => p.paymentId), [made[4], made[3], made[2]]);
  const before = await ctx.alice.payments.listPayments({ loanId: l.loanId, endTime: third.createTime });
  assert.equal(before.payments.map((p) => p.paymentId), [made[1], made[0]]);
  await expectError(ctx.alice.payments.listPayments({ startTime: timestampFromDate(new Date(2030, 0, 2)), endTime: timestampFromDate(new Date(2030, 0, 1)) }), Code.InvalidArgument, { field: "start_time" });
  await expectError(ctx.alice.payments.listPayments({ pageSize: -1 }), Code.InvalidArgument, { field: "page_size" });
  await expectError(ctx.alice.payments.listPayments({ pageToken: "garbage" }), Code.InvalidArgument, { field: "page_token" });
  await expectError(ctx.alice.payments.listPayments({ statuses: [PaymentStatus.UNSPECIFIED] }), Code.InvalidArgument, { field: "statuses[0]" });
});

test("SyncPendingPayments applies what the gateway knows when no webhook came", async (ctx) => {
  const l = await newLoan(ctx, ctx.alice.p, 3_000n);
  const l2 = await newLoan(ctx, ctx.alice.p, 3_000n);
  const ok = (await pay(ctx.alice, [{ loanId: l.loanId }])).payment!;
  const ko = (await pay(ctx.alice, [{ loanId: l2.loanId }])).payment!;
  // The payer completed the checkout, but the webhooks are lost.
  assert.is((await simulate(ctx.sys, ok.gatewayPaymentId, { outcome: "succeeded", webhook: false })).event_id, null);
  await simulate(ctx.sys, ko.gatewayPaymentId, { outcome: "failed", webhook: false });
  assert.is((await ctx.alice.payments.getPayment({ paymentId: ok.paymentId })).payment?.status, PaymentStatus.PENDING);
  await expectError(ctx.admin.payments.syncPendingPayments({ minAgeSeconds: -1 }, idem()), Code.InvalidArgument, { field: "min_age_seconds" });
  await expectError(ctx.admin.payments.syncPendingPayments({ maxPayments: 1001 }, idem()), Code.InvalidArgument, { field: "max_payments" });
  await expectError(ctx.alice.payments.syncPendingPayments({}, idem()), Code.PermissionDenied);
  // Too young for the default threshold (600 s): not touched.
  const young = await ctx.admin.payments.syncPendingPayments({}, idem());
  assert.not.ok(young.results.some((r) => r.paymentId === ok.paymentId));
  ctx.sys.clock.advance(5_000);
  let results: Map<string, { previousStatus: PaymentStatus; status: PaymentStatus; outcome: ReconcileOutcome }> = new Map();
  let more = true;
  for (let i = 0; i < 20 && more && !(results.has(ok.paymentId) && results.has(ko.paymentId)); i++) {
    const r = await ctx.admin.payments.syncPendingPayments({ minAgeSeconds: 2, maxPayments: 1000 }, idem());
    for (const x of r.results) results.set(x.paymentId, x);
    more = r.moreRemaining;
  }
  const okResult = results.get(ok.paymentId);
  assert.ok(okResult, "the succeeded payment was synced");
  assert.equal([okResult.previousStatus, okResult.status, okResult.outcome], [PaymentStatus.PENDING, PaymentStatus.SUCCEEDED, ReconcileOutcome.APPLIED]);
  const koResult = results.get(ko.paymentId);
  assert.ok(koResult, "the failed payment was synced");
  assert.equal([koResult.status, koResult.outcome], [PaymentStatus.FAILED, ReconcileOutcome.APPLIED]);
  const done = await settled(ctx.alice, ok.paymentId);
  assert.equal([done.status, done.allocations[0]?.status], [PaymentStatus.SUCCEEDED, AllocationStatus.APPLIED]);
  assert.is((await ctx.alice.loans.getLoan({ loanId: l.loanId })).loan?.status, LoanStatus.PAID_OFF);
  // A second sync changes nothing about it (no longer PENDING) and nothing is applied twice.
  const again = await ctx.admin.payments.syncPendingPayments({ minAgeSeconds: 2, maxPayments: 1000 }, idem());
  assert.not.ok(again.results.some((r) => r.paymentId === ok.paymentId));
  const reps = await ctx.alice.loans.getLoanStatement({ loanId: l.loanId });
  assert.is(reps.repayments.length, 1);
});

// Last: it stops the simulated gateway process.
test("gateway down: UNAVAILABLE (PAYMENT_GATEWAY_UNAVAILABLE), nothing charged; sync reports it too", async (ctx) => {
  const l = await newLoan(ctx, ctx.alice.p, 2_000n);
  await ctx.sys.paymentGateway!.close();
  const key = randomUUID();
  await expectError(pay(ctx.alice, [{ loanId: l.loanId }], key), Code.Unavailable, { reason: "PAYMENT_GATEWAY_UNAVAILABLE" });
  // The payment waits, PENDING and without a checkout, for the retry with the same key.
  const rows = await ctx.db.query(`SELECT p.status, p.gateway_payment_id FROM payment.payments p JOIN payment.allocations a USING (payment_id) WHERE a.loan_id = $1`, [l.loanId]);
  assert.equal(rows.rows, [{ status: "PENDING", gateway_payment_id: null }]);
  await expectError(pay(ctx.alice, [{ loanId: l.loanId }], key), Code.Unavailable, { reason: "PAYMENT_GATEWAY_UNAVAILABLE" });
  const again = await ctx.db.query(`SELECT count(*)::int AS n FROM payment.allocations WHERE loan_id = $1`, [l.loanId]);
  assert.is(again.rows[0].n, 1);
  await expectError(ctx.admin.payments.syncPendingPayments({ minAgeSeconds: 1 }, idem()), Code.Unavailable, { reason: "PAYMENT_GATEWAY_UNAVAILABLE" });
});

test.run();
