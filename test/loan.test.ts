// LoanService against the real system: loan products, loans created from settlements
// (idempotent, one per transaction, also under concurrency), repayments allocated fees →
// interest → principal, PAID_OFF, the principal restored on the credit line exactly once
// through the outbox (also across a CreditService outage and a redelivery), statements,
// object-level access and input validation. Clients as callers use them: grpc-js-style
// gRPC for the bank and the mesh services, Connect JSON through the gateway for drivers.
import { randomUUID } from "node:crypto";
import pg from "pg";
import * as assert from "uvu/assert";
import { toBinary, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { FuelType, Role } from "../gen/fuel/common/v1/common_pb.js";
import { JournalEntryKind } from "../gen/fuel/credit/v1/ledger_pb.js";
import {
  CreateLoanFromSettlementResponseSchema,
  LoanProductStatus,
  LoanService,
  LoanStatus,
  RepaymentSource,
  StatementEventKind,
  type CreateLoanFromSettlementResponse,
} from "../gen/fuel/loan/v1/loan_pb.js";
import { reasonOf } from "../platform/errors.js";
import { meshInterceptor } from "../platform/mesh.js";
import { bootService } from "../platform/runtime.js";
import { ServiceTokens } from "../platform/tokens.js";
import { jwksFromAuth } from "../bin/system.js";
import { MODULES } from "../services/registry.js";
import { clientAs, creditAsService, creditSuite, Fixtures, ngn, tokenFor } from "./credit-fixtures.js";
import { connectJson } from "./helpers/clients.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";

const test = creditSuite("loan lifecycle");
const DAY = 86_400_000;
let sys: TestSystem;
let fx: Fixtures;
let db: pg.Client;

const key = () => ({ headers: { "idempotency-key": randomUUID() } });

/** LoanService as another mesh service calls it (internal methods allowed). */
function loanAsService(name = "transaction"): Client<typeof LoanService> {
  return createClient(LoanService, createGrpcTransport({
    baseUrl: sys.cfg.urls.loan,
    interceptors: [meshInterceptor(new ServiceTokens(sys.cfg.meshSecret, name))],
  }));
}

async function rejects(p: Promise<unknown>, code: Code, reasonOrField?: string) {
  try {
    await p;
  } catch (err) {
    const ce = ConnectError.from(err);
    assert.is(Code[ce.code], Code[code], ce.message);
    if (reasonOrField) assert.ok(reasonOf(ce) === reasonOrField || ce.rawMessage.startsWith(`${reasonOrField}:`), `${reasonOrField} expected, got ${reasonOf(ce)} / ${ce.rawMessage}`);
    return;
  }
  assert.unreachable(`expected ${Code[code]}`);
}

async function until<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface BankCtx {
  bankId: string;
  token: string;
  loans: Client<typeof LoanService>;
  productId: string;
  credit: Awaited<ReturnType<Fixtures["bank"]>>["credit"];
}

/** A bank with a credit policy and a default NGN loan product (1% + 100 fee, 10 bps/day, 30 days). */
async function bankWithProduct(): Promise<BankCtx> {
  const b = await fx.bank(10_000_000n);
  const loans = clientAs(LoanService, sys.cfg.urls.loan, b.token);
  const p = await loans.createLoanProduct({
    name: "Fuel 30", currency: "NGN", feeFixed: ngn(100n), feeBps: 100, dailyInterestBps: 10, termDays: 30, isDefault: true,
  });
  return { ...b, loans, productId: p.loanProduct!.loanProductId };
}

/** A verified driver with a line at `bank`, and a captured purchase of `amount` on it. */
async function purchase(bank: BankCtx, amount: bigint, agencyId = "") {
  const d = await fx.driver(agencyId);
  const line = (await bank.credit.createCreditLine({ owner: { case: "driverId", value: d.driverId }, currency: "NGN" })).creditLine!;
  const credit = creditAsService(sys);
  const transactionId = randomUUID();
  const hold = await credit.hold({ driverId: d.driverId, transactionId, amount: ngn(amount), stationId: randomUUID(), fuelType: FuelType.DIESEL });
  assert.ok(hold.approved, "hold approved");
  await credit.capture({ holdId: hold.hold!.holdId, amount: ngn(amount) });
  return { ...d, lineId: line.creditLineId, transactionId };
}

const settlement = (bank: BankCtx, p: { driverId: string; lineId: string; transactionId: string }, amount: bigint, agencyId = "") => ({
  transactionId: p.transactionId, driverId: p.driverId, agencyId, bankId: bank.bankId, creditLineId: p.lineId,
  principal: ngn(amount), settleTime: { seconds: BigInt(Math.floor(sys.clock.now().getTime() / 1000)), nanos: 0 },
});

async function lineUsed(bank: BankCtx, lineId: string): Promise<bigint> {
  return (await bank.credit.getCreditLine({ creditLineId: lineId })).creditLine!.used!.amountMinor;
}

async function repaymentEntries(bank: BankCtx, lineId: string) {
  const r = await bank.credit.listLedgerEntries({ creditLineId: lineId, kinds: [JournalEntryKind.REPAYMENT] });
  return r.entries;
}

/**
 * What this process sends to the loan schema, one entry a round trip, the relay's claiming
 * and delivering of outbox rows aside (writing one is counted).
 */
const loanSent: string[] = [];
function countLoanStatements(): void {
  const proto = pg.Client.prototype as unknown as { query: (...a: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function (this: object, ...args: unknown[]) {
    const first = args[0];
    const text = typeof first === "string" ? first : (first as { text?: string } | undefined)?.text ?? "";
    const delivery = /\bloan\.(outbox|borrowers|repayments)\b/.test(text) && !/\bINSERT INTO loan\.outbox\b/.test(text);
    if (/\bloan\./.test(text) && !delivery) loanSent.push(text.replace(/\s+/g, " ").trim());
    return original.apply(this, args);
  };
}

/** `fn`'s result and the statements it sent to the loan schema. */
async function sending<T>(fn: () => Promise<T>): Promise<[T, string[]]> {
  const from = loanSent.length;
  const out = await fn();
  return [out, loanSent.slice(from)];
}

const answerBytes = (r: CreateLoanFromSettlementResponse) => toBinary(CreateLoanFromSettlementResponseSchema, r);

async function loanFacts(transactionId: string) {
  const { rows } = await db.query(
    `SELECT l.loan_id, l.fee, (SELECT count(*)::int FROM loan.outbox o WHERE o.loan_id = l.loan_id AND o.kind = 'NOTIFY') AS notices
       FROM loan.loans l WHERE l.transaction_id = $1`,
    [transactionId],
  );
  return rows as { loan_id: string; fee: bigint; notices: number }[];
}

test.before(async () => {
  countLoanStatements();
  process.env.LOAN_AGING_INTERVAL_MS = "0";
  process.env.LOAN_RELAY_BACKOFF_MS = "100";
  sys = await startTestSystem();
  fx = await Fixtures.create(sys);
  db = new pg.Client({ connectionString: sys.databaseUrl });
  await db.connect();
});
test.after(async () => {
  await db?.end();
  await sys?.stop();
});

test("products: a bank manages its own; validation names the field; stale version → ABORTED; one default per currency", async () => {
  const bank = await bankWithProduct();
  await rejects(bank.loans.createLoanProduct({ name: "x", currency: "NGN", feeBps: 10_001, termDays: 30 }), Code.InvalidArgument, "fee_bps");
  await rejects(bank.loans.createLoanProduct({ name: "x", currency: "NGN", termDays: 0 }), Code.InvalidArgument, "term_days");
  await rejects(bank.loans.createLoanProduct({ name: "x", currency: "NGN", termDays: 5, dailyInterestBps: 1001 }), Code.InvalidArgument, "daily_interest_bps");
  await rejects(bank.loans.createLoanProduct({ name: "x", currency: "ngn", termDays: 5 }), Code.InvalidArgument, "currency");
  await rejects(bank.loans.createLoanProduct({ name: "x", currency: "NGN", termDays: 5, feeFixed: ngn(-1n) }), Code.InvalidArgument, "fee_fixed.amount_minor");
  const first = (await bank.loans.getLoanProduct({ loanProductId: bank.productId })).loanProduct!;
  assert.is(first.isDefault, true);
  assert.is(first.defaultAfterDaysPastDue, 90, "0 means the configured default (90)");
  assert.is(first.feeFixed!.amountMinor, 100n);
  // A second default product takes the flag from the first.
  const second = (await bank.loans.createLoanProduct({ name: "Fuel 7", currency: "NGN", termDays: 7, isDefault: true })).loanProduct!;
  assert.is((await bank.loans.getLoanProduct({ loanProductId: bank.productId })).loanProduct!.isDefault, false);
  // Update with the version read; a stale version is refused.
  const upd = await bank.loans.updateLoanProduct({
    loanProductId: second.loanProductId, expectedVersion: second.version,
    loanProduct: { termDays: 14, status: LoanProductStatus.RETIRED }, updateMask: { paths: ["term_days", "status"] },
  });
  assert.is(upd.loanProduct!.termDays, 14);
  assert.is(upd.loanProduct!.status, LoanProductStatus.RETIRED);
  assert.is(upd.loanProduct!.version, second.version + 1n);
  await rejects(bank.loans.updateLoanProduct({
    loanProductId: second.loanProductId, expectedVersion: second.version, loanProduct: { termDays: 20 }, updateMask: { paths: ["term_days"] },
  }), Code.Aborted, "VERSION_MISMATCH");
  await rejects(bank.loans.updateLoanProduct({
    loanProductId: second.loanProductId, expectedVersion: upd.loanProduct!.version, loanProduct: { bankId: randomUUID() }, updateMask: { paths: ["bank_id"] },
  }), Code.InvalidArgument, "update_mask");
  // Restore the first as the default for the tests below.
  await bank.loans.updateLoanProduct({ loanProductId: bank.productId, expectedVersion: (await bank.loans.getLoanProduct({ loanProductId: bank.productId })).loanProduct!.version, loanProduct: { isDefault: true }, updateMask: { paths: ["is_default"] } });
  // Another bank sees none of it.
  const other = clientAs(LoanService, sys.cfg.urls.loan, await tokenFor(sys, Role.BANK_ADMIN, { bankId: randomUUID() }));
  await rejects(other.getLoanProduct({ loanProductId: bank.productId }), Code.NotFound);
  assert.is((await other.listLoanProducts({ bankId: bank.bankId })).loanProducts.length, 0);
  const mine = await bank.loans.listLoanProducts({ pageSize: 1 });
  assert.is(mine.loanProducts.length, 1);
  assert.ok(mine.nextPageToken);
  const page2 = await bank.loans.listLoanProducts({ pageSize: 1, pageToken: mine.nextPageToken });
  assert.is(page2.loanProducts.length, 1);
  assert.is.not(page2.loanProducts[0]!.loanProductId, mine.loanProducts[0]!.loanProductId);
  await rejects(bank.loans.listLoanProducts({ pageSize: -1 }), Code.InvalidArgument, "page_size");
  await rejects(bank.loans.listLoanProducts({ pageToken: "garbage" }), Code.InvalidArgument, "page_token");
  // Drivers may not manage products at all (policy).
  const driver = clientAs(LoanService, sys.cfg.urls.loan, await tokenFor(sys, Role.DRIVER, { driverId: randomUUID() }));
  await rejects(driver.createLoanProduct({ name: "x", currency: "NGN", termDays: 5 }), Code.PermissionDenied);
});

test("settlement → loan: terms copied, idempotent per transaction (same key, other key, concurrent), conflicting repeat refused", async () => {
  const bank = await bankWithProduct();
  const svc = loanAsService();
  const tx = { driverId: randomUUID(), lineId: randomUUID(), transactionId: randomUUID() };
  const req = settlement(bank, tx, 50_000n);
  const k = randomUUID();
  const a = (await svc.createLoanFromSettlement(req, { headers: { "idempotency-key": k } })).loan!;
  assert.is(a.status, LoanStatus.ACTIVE);
  assert.is(a.principal!.amountMinor, 50_000n);
  assert.is(a.fee!.amountMinor, 600n, "100 fixed + 1% of 50 000");
  assert.is(a.totalOutstanding!.amountMinor, 50_600n);
  assert.is(a.termDays, 30);
  assert.is(a.dailyInterestBps, 10);
  assert.is(a.loanProductId, bank.productId);
  assert.is(Number(a.dueTime!.seconds - a.disburseTime!.seconds), 30 * 86_400);
  // Same key: the same loan (replayed). Another key: still the same loan.
  const b = (await svc.createLoanFromSettlement(req, { headers: { "idempotency-key": k } })).loan!;
  assert.is(b.loanId, a.loanId);
  const c = (await svc.createLoanFromSettlement(req, key())).loan!;
  assert.is(c.loanId, a.loanId);
  // A different request for the same transaction.
  await rejects(svc.createLoanFromSettlement({ ...req, principal: ngn(50_001n) }, key()), Code.AlreadyExists, "LOAN_EXISTS_FOR_TRANSACTION");
  // Concurrent first deliveries with different keys: one loan.
  const tx2 = { driverId: randomUUID(), lineId: randomUUID(), transactionId: randomUUID() };
  const req2 = settlement(bank, tx2, 7_000n);
  const all = await Promise.all(Array.from({ length: 8 }, () => svc.createLoanFromSettlement(req2, key())));
  assert.is(new Set(all.map((r) => r.loan!.loanId)).size, 1);
  const { rows } = await db.query(`SELECT count(*)::int AS n FROM loan.loans WHERE transaction_id = $1`, [tx2.transactionId]);
  assert.is(rows[0].n, 1);
  // No default product in the currency → FAILED_PRECONDITION; bad input names the field.
  await rejects(svc.createLoanFromSettlement({ ...settlement(bank, { ...tx, transactionId: randomUUID() }, 10n), principal: { amountMinor: 10n, currency: "KES" } }, key()), Code.FailedPrecondition, "LOAN_PRODUCT_NOT_FOUND");
  await rejects(svc.createLoanFromSettlement({ ...req, transactionId: randomUUID(), principal: ngn(0n) }, key()), Code.InvalidArgument, "principal.amount_minor");
  await rejects(svc.createLoanFromSettlement({ ...req, transactionId: "nope" }, key()), Code.InvalidArgument, "transaction_id");
  await rejects(svc.createLoanFromSettlement({ ...req, transactionId: randomUUID(), creditLineId: "" }, key()), Code.InvalidArgument, "credit_line_id");
  // Internal: a bank (or anyone outside the mesh) cannot call it, even with a role.
  await rejects(bank.loans.createLoanFromSettlement({ ...req, transactionId: randomUUID() }), Code.PermissionDenied);
});

test("settlement → loan in one statement: key row, loan and notice together; the answer stored is the answer, byte for byte", async () => {
  const bank = await bankWithProduct();
  const svc = loanAsService();
  const req = settlement(bank, { driverId: randomUUID(), lineId: randomUUID(), transactionId: randomUUID() }, 20_000n);
  const k = randomUUID();
  // The product was created through this service, so it is known: one round trip.
  const [first, sent] = await sending(() => svc.createLoanFromSettlement(req, { headers: { "idempotency-key": k } }));
  assert.is(sent.length, 1, sent.join("\n"));
  assert.match(sent[0]!, /^WITH .*INSERT INTO loan\.idempotency_keys.*INSERT INTO loan\.loans.*INSERT INTO loan\.outbox/);
  assert.is(first.loan!.fee!.amountMinor, 300n, "100 fixed + 1% of 20 000");
  const facts = await loanFacts(req.transactionId);
  assert.equal(facts.map((f) => [f.loan_id, f.notices]), [[first.loan!.loanId, 1]], "one loan, its notice with it");
  const keyRow = (await db.query(`SELECT response FROM loan.idempotency_keys WHERE key = $1`, [k])).rows[0];
  assert.equal(new Uint8Array(keyRow.response), answerBytes(first), "the key keeps the answer as sent");
  // Under another key: the loan as stored, read back, is the loan as answered.
  const other = await svc.createLoanFromSettlement(req, key());
  assert.equal(answerBytes(other), answerBytes(first));
  // A different request for the transaction, under a new key or under the first one.
  await rejects(svc.createLoanFromSettlement({ ...req, principal: ngn(20_001n) }, key()), Code.AlreadyExists, "LOAN_EXISTS_FOR_TRANSACTION");
  await rejects(svc.createLoanFromSettlement({ ...req, principal: ngn(20_001n) }, { headers: { "idempotency-key": k } }), Code.InvalidArgument, "IDEMPOTENCY_KEY_REUSED");
  // Two days on, the same key replays the first answer byte for byte (a fresh one would show interest).
  sys.clock.advance(2 * DAY);
  const [again, replaySent] = await sending(() => svc.createLoanFromSettlement(req, { headers: { "idempotency-key": k } }));
  assert.equal(answerBytes(again), answerBytes(first));
  assert.ok(replaySent.length <= 2, replaySent.join("\n"));
  assert.equal((await loanFacts(req.transactionId)).map((f) => f.notices), [1], "still one loan, one notice");
});

test("settlement → loan: ten identical calls at once (one key, then ten keys) make one loan and one notice", async () => {
  const bank = await bankWithProduct();
  const svc = loanAsService();
  const req = settlement(bank, { driverId: randomUUID(), lineId: randomUUID(), transactionId: randomUUID() }, 9_000n);
  const k = randomUUID();
  const same = await Promise.all(Array.from({ length: 10 }, () => svc.createLoanFromSettlement(req, { headers: { "idempotency-key": k } })));
  for (const r of same) assert.equal(answerBytes(r), answerBytes(same[0]!), "every call answers the first run's bytes");
  assert.equal((await loanFacts(req.transactionId)).map((f) => [f.loan_id, f.notices]), [[same[0]!.loan!.loanId, 1]]);
  const req2 = settlement(bank, { driverId: randomUUID(), lineId: randomUUID(), transactionId: randomUUID() }, 9_000n);
  const many = await Promise.all(Array.from({ length: 10 }, () => svc.createLoanFromSettlement(req2, key())));
  assert.is(new Set(many.map((r) => r.loan!.loanId)).size, 1);
  assert.equal((await loanFacts(req2.transactionId)).map((f) => [f.loan_id, f.notices]), [[many[0]!.loan!.loanId, 1]]);
});

test("settlement → loan: a product changed after it was read is not used; the locked path decides on it as it is", async () => {
  const bank = await bankWithProduct();
  const svc = loanAsService();
  const sale = (amount: bigint, productId = "") => ({
    ...settlement(bank, { driverId: randomUUID(), lineId: randomUUID(), transactionId: randomUUID() }, amount), loanProductId: productId,
  });
  // Another instance changes the default product's terms (every change bumps its version).
  await db.query(`UPDATE loan.products SET fee_bps = 200, version = version + 1, update_time = now() WHERE product_id = $1`, [bank.productId]);
  const a = sale(10_000n);
  const [changed, sent] = await sending(() => svc.createLoanFromSettlement(a, key()));
  assert.is(changed.loan!.fee!.amountMinor, 300n, "the new terms: 100 fixed + 2% of 10 000");
  assert.match(sent[0]!, /^WITH /, "the one statement was tried first");
  assert.ok(sent.length > 1, "and wrote nothing: the locked path answered");
  assert.equal((await loanFacts(a.transactionId)).map((f) => [String(f.fee), f.notices]), [["300", 1]]);
  // The locked path read the product as it is: the next loan is one statement again.
  const b = sale(10_000n);
  const [next, nextSent] = await sending(() => svc.createLoanFromSettlement(b, key()));
  assert.is(nextSent.length, 1, nextSent.join("\n"));
  assert.is(next.loan!.fee!.amountMinor, 300n);

  // A product this instance never saw is read once, then known.
  const namedId = randomUUID();
  await db.query(
    `INSERT INTO loan.products (product_id, bank_id, name, currency, fee_fixed, fee_bps, daily_interest_bps, term_days,
       default_after_days, reminder_days_before_due, is_default, status, create_time, update_time)
     VALUES ($1, $2, 'Fuel 14', 'NGN', 0, 0, 5, 14, 30, 2, false, 'ACTIVE', now(), now())`,
    [namedId, bank.bankId],
  );
  const [named, namedSent] = await sending(() => svc.createLoanFromSettlement(sale(4_000n, namedId), key()));
  assert.is(named.loan!.loanProductId, namedId);
  assert.is(named.loan!.termDays, 14);
  assert.is(namedSent.length, 2, namedSent.join("\n"));
  assert.is((await sending(() => svc.createLoanFromSettlement(sale(4_000n, namedId), key())))[1].length, 1);

  // Retired after it was read: no loan, no notice, no key kept; FAILED_PRECONDITION.
  await db.query(`UPDATE loan.products SET status = 'RETIRED', version = version + 1 WHERE product_id = ANY($1::uuid[])`, [[bank.productId, namedId]]);
  for (const c of [sale(5_000n), sale(5_000n, namedId)]) {
    const k = randomUUID();
    await rejects(svc.createLoanFromSettlement(c, { headers: { "idempotency-key": k } }), Code.FailedPrecondition, "LOAN_PRODUCT_NOT_FOUND");
    assert.equal(await loanFacts(c.transactionId), []);
    assert.is((await db.query(`SELECT count(*)::int AS n FROM loan.idempotency_keys WHERE key = $1`, [k])).rows[0].n, 0);
  }
  // A loan made before the product went away is still the answer to its retry.
  assert.is((await svc.createLoanFromSettlement(b, key())).loan!.loanId, next.loan!.loanId);
});

test("repayments: fees → interest → principal; principal restored on the line exactly once; PAID_OFF; overpayment unapplied", async () => {
  const bank = await bankWithProduct();
  const p = await purchase(bank, 100_000n);
  assert.is(await lineUsed(bank, p.lineId), 100_000n);
  const svc = loanAsService();
  const loan = (await svc.createLoanFromSettlement(settlement(bank, p, 100_000n), key())).loan!;
  assert.is(loan.fee!.amountMinor, 1_100n);
  sys.clock.advance(3 * DAY + 3_600_000);
  // 3 days × round(100 000 × 10 bps) = 300 interest.
  const before = (await bank.loans.getLoan({ loanId: loan.loanId })).loan!;
  assert.is(before.interestAccrued!.amountMinor, 300n);
  assert.is(before.totalOutstanding!.amountMinor, 101_400n);

  // The bank records 1 000: all to the fee (1 100 owed), nothing to credit.
  const r1 = await bank.loans.repayLoan({ loanId: loan.loanId, amount: ngn(1_000n), externalReference: "BANK-1" });
  assert.equal([r1.repayment!.allocation!.fee!.amountMinor, r1.repayment!.allocation!.interest!.amountMinor, r1.repayment!.allocation!.principal!.amountMinor], [1_000n, 0n, 0n]);
  assert.is(r1.repayment!.source, RepaymentSource.BANK_RECORDED);
  assert.is(r1.repayment!.balanceAfter!.amountMinor, 100_400n);
  // Then 20 400: 100 fee, 300 interest, 20 000 principal.
  const r2 = await bank.loans.repayLoan({ loanId: loan.loanId, amount: ngn(20_400n), externalReference: "BANK-2" });
  assert.equal([r2.repayment!.allocation!.fee!.amountMinor, r2.repayment!.allocation!.interest!.amountMinor, r2.repayment!.allocation!.principal!.amountMinor], [100n, 300n, 20_000n]);
  assert.is(r2.loan!.principalOutstanding!.amountMinor, 80_000n);
  assert.is(r2.loan!.status, LoanStatus.ACTIVE);
  await rejects(bank.loans.repayLoan({ loanId: loan.loanId, amount: ngn(5n), externalReference: "BANK-2" }), Code.AlreadyExists, "DUPLICATE_EXTERNAL_REFERENCE");
  try {
    await bank.loans.repayLoan({ loanId: loan.loanId, amount: ngn(80_001n), externalReference: "BANK-3" });
    assert.unreachable("over-repayment accepted");
  } catch (err) {
    const ce = ConnectError.from(err);
    assert.is(reasonOf(ce), "REPAYMENT_EXCEEDS_OUTSTANDING");
    assert.is(ce.code, Code.FailedPrecondition);
  }
  // The principal part goes back to the line through the outbox.
  await until("credit restored", async () => (await lineUsed(bank, p.lineId)) === 80_000n);
  const restored = await until("repayment marked restored", async () => {
    const s = await bank.loans.getLoanStatement({ loanId: loan.loanId });
    return s.repayments.find((r) => r.repaymentId === r2.repayment!.repaymentId)?.creditRestored ? s : null;
  });
  assert.is(restored.repayments.length, 2);

  // A payment (PaymentService) of more than is owed: applied up to the outstanding, the rest returned.
  sys.clock.advance(DAY);
  const owed = (await bank.loans.getLoan({ loanId: loan.loanId })).loan!.totalOutstanding!.amountMinor;
  assert.is(owed, 80_080n, "80 000 principal + one day at 80");
  const pay = loanAsService("payment");
  const paymentId = randomUUID();
  const applied = await pay.applyRepayment({ loanId: loan.loanId, amount: ngn(90_000n), paymentId }, key());
  assert.is(applied.repayment!.amount!.amountMinor, owed);
  assert.is(applied.unappliedAmount!.amountMinor, 90_000n - owed);
  assert.equal([applied.repayment!.allocation!.fee!.amountMinor, applied.repayment!.allocation!.interest!.amountMinor, applied.repayment!.allocation!.principal!.amountMinor], [0n, 80n, 80_000n]);
  assert.is(applied.loan!.status, LoanStatus.PAID_OFF);
  assert.is(applied.loan!.totalOutstanding!.amountMinor, 0n);
  assert.ok(applied.loan!.paidOffTime);
  // The same payment again (another key): the first result, nothing applied twice.
  const again = await pay.applyRepayment({ loanId: loan.loanId, amount: ngn(90_000n), paymentId }, key());
  assert.is(again.repayment!.repaymentId, applied.repayment!.repaymentId);
  assert.is(again.unappliedAmount!.amountMinor, applied.unappliedAmount!.amountMinor);
  // A new payment on a paid-off loan: nothing applied, all of it returned.
  const late = await pay.applyRepayment({ loanId: loan.loanId, amount: ngn(500n), paymentId: randomUUID() }, key());
  assert.is(late.repayment, undefined);
  assert.is(late.unappliedAmount!.amountMinor, 500n);
  await rejects(bank.loans.repayLoan({ loanId: loan.loanId, amount: ngn(1n), externalReference: "BANK-9" }), Code.FailedPrecondition, "LOAN_PAID_OFF");
  await rejects(pay.applyRepayment({ loanId: loan.loanId, amount: { amountMinor: 5n, currency: "KES" }, paymentId: randomUUID() }, key()), Code.InvalidArgument, "amount.currency");
  await rejects(pay.applyRepayment({ loanId: randomUUID(), amount: ngn(5n), paymentId: randomUUID() }, key()), Code.NotFound);

  // Everything lent is back on the line, by exactly one REPAYMENT entry per repayment with principal.
  await until("line fully restored", async () => (await lineUsed(bank, p.lineId)) === 0n);
  const entries = await repaymentEntries(bank, p.lineId);
  assert.equal(entries.map((e) => e.repaymentId).sort(), [r2.repayment!.repaymentId, applied.repayment!.repaymentId].sort());
  const { rows } = await db.query(`SELECT count(*)::int AS n FROM loan.outbox WHERE kind = 'RESTORE_CREDIT' AND loan_id = $1 AND delivered_at IS NOT NULL`, [loan.loanId]);
  assert.is(rows[0].n, 2, "one restore per repayment with a principal part");
  const v = await fx.creditAdmin().verifyLedger({ creditLineIds: [p.lineId] });
  assert.ok(v.consistent, "credit ledger clean");
});

test("statement: every event with its balance after; repayments with allocations; what is due when", async () => {
  const bank = await bankWithProduct();
  const p = await purchase(bank, 10_000n);
  const svc = loanAsService();
  const loan = (await svc.createLoanFromSettlement(settlement(bank, p, 10_000n), key())).loan!;
  // fee = 100 + 100 = 200; interest 10/day.
  sys.clock.advance(2 * DAY + 1_000);
  const rep = await bank.loans.repayLoan({ loanId: loan.loanId, amount: ngn(1_220n), externalReference: `S-${randomUUID()}` });
  sys.clock.advance(5 * DAY);
  const s = await bank.loans.getLoanStatement({ loanId: loan.loanId });
  const kinds = s.events.map((e) => StatementEventKind[e.kind]);
  assert.equal(kinds, ["DISBURSEMENT", "FEE", "INTEREST", "REPAYMENT", "INTEREST"]);
  const totals = s.events.map((e) => e.totalBalance!.amountMinor);
  // 10 000 → +200 fee → +20 interest (2 days) → −1 220 (200 fee, 20 interest, 1 000 principal) → +45 (5 days at 9).
  assert.equal(totals, [10_000n, 10_200n, 10_220n, 9_000n, 9_045n]);
  const repEvent = s.events[3]!;
  assert.is(repEvent.repaymentId, rep.repayment!.repaymentId);
  assert.equal([repEvent.allocation!.fee!.amountMinor, repEvent.allocation!.interest!.amountMinor, repEvent.allocation!.principal!.amountMinor], [200n, 20n, 1_000n]);
  assert.is(s.events[4]!.amount!.amountMinor, 45n);
  assert.is(s.totalFees!.amountMinor, 200n);
  assert.is(s.totalInterest!.amountMinor, 65n);
  assert.is(s.totalRepaid!.amountMinor, 1_220n);
  assert.is(s.loan!.totalOutstanding!.amountMinor, 9_045n);
  assert.is(s.repayments.length, 1);
  // Due in 30 days from disbursement: interest projected to the due date (28 days at 9 after the repayment).
  assert.is(s.amountDue!.amountMinor, 9_000n + 28n * 9n);
  assert.equal(s.dueTime, loan.dueTime);
  // A statement as of an earlier date leaves later events out.
  const early = await bank.loans.getLoanStatement({ loanId: loan.loanId, asOfTime: { seconds: loan.disburseTime!.seconds + 86_400n + 10n, nanos: 0 } });
  assert.equal(early.events.map((e) => StatementEventKind[e.kind]), ["DISBURSEMENT", "FEE", "INTEREST"]);
  assert.is(early.loan!.totalOutstanding!.amountMinor, 10_210n);
  assert.is(early.repayments.length, 0);
  await rejects(bank.loans.getLoanStatement({ loanId: loan.loanId, asOfTime: { seconds: loan.disburseTime!.seconds - 10n, nanos: 0 } }), Code.InvalidArgument, "as_of_time");
  await rejects(bank.loans.getLoanStatement({ loanId: loan.loanId, asOfTime: { seconds: BigInt(Math.floor(sys.clock.now().getTime() / 1000)) + 3600n, nanos: 0 } }), Code.InvalidArgument, "as_of_time");
  // Back-dating before the latest repayment is refused (recorded allocations never change).
  await rejects(bank.loans.repayLoan({ loanId: loan.loanId, amount: ngn(5n), externalReference: `S-${randomUUID()}`, receiveTime: { seconds: loan.disburseTime!.seconds + 60n, nanos: 0 } }), Code.InvalidArgument, "receive_time");
});

test("access: a driver sees only their loans, an agency its drivers', a bank its own; others NOT_FOUND", async () => {
  const bank = await bankWithProduct();
  const { agencyId } = await fx.verifiedAgency();
  const svc = loanAsService();
  const mk = async (driverId: string, agency = "", secondsAgo = 0n) => {
    const req = settlement(bank, { driverId, lineId: randomUUID(), transactionId: randomUUID() }, 1_000n);
    req.settleTime.seconds -= secondsAgo;
    return (await svc.createLoanFromSettlement({ ...req, agencyId: agency }, key())).loan!;
  };
  const driverA = randomUUID();
  const driverB = randomUUID();
  const loanA = await mk(driverA, agencyId, 60n);
  const loanB = await mk(driverB);
  // Drivers use the mobile path: Connect JSON through the gateway.
  const a = connectJson(LoanService, sys.gatewayUrl, await tokenFor(sys, Role.DRIVER, { driverId: driverA }));
  assert.is((await a.getLoan({ loanId: loanA.loanId })).loan!.loanId, loanA.loanId);
  await rejects(a.getLoan({ loanId: loanB.loanId }), Code.NotFound);
  await rejects(a.getLoanStatement({ loanId: loanB.loanId }), Code.NotFound);
  const listA = await a.listLoans({});
  assert.equal(listA.loans.map((l) => l.loanId), [loanA.loanId]);
  // Filters only narrow: asking for driver B's loans returns nothing.
  assert.is((await a.listLoans({ driverId: driverB })).loans.length, 0);
  // Internal methods are not reachable through the gateway.
  const viaGateway = await a.applyRepayment({ loanId: loanA.loanId, amount: ngn(1n), paymentId: randomUUID() }, key()).catch((e) => ConnectError.from(e));
  assert.ok(viaGateway instanceof ConnectError && [Code.Unimplemented, Code.PermissionDenied].includes(viaGateway.code), "internal method not exposed");
  const agency = clientAs(LoanService, sys.cfg.urls.loan, await tokenFor(sys, Role.AGENCY_ADMIN, { agencyId }));
  assert.equal((await agency.listLoans({})).loans.map((l) => l.loanId), [loanA.loanId]);
  await rejects(agency.getLoan({ loanId: loanB.loanId }), Code.NotFound);
  const otherBank = clientAs(LoanService, sys.cfg.urls.loan, await tokenFor(sys, Role.BANK_ADMIN, { bankId: randomUUID() }));
  await rejects(otherBank.getLoan({ loanId: loanA.loanId }), Code.NotFound);
  await rejects(otherBank.repayLoan({ loanId: loanA.loanId, amount: ngn(1n), externalReference: "X" }), Code.NotFound);
  assert.is((await otherBank.listLoans({})).loans.length, 0);
  const mine = await bank.loans.listLoans({ pageSize: 1 });
  assert.is(mine.loans.length, 1);
  assert.is(mine.loans[0]!.loanId, loanB.loanId, "newest first");
  const next = await bank.loans.listLoans({ pageSize: 1, pageToken: mine.nextPageToken });
  assert.is(next.loans[0]!.loanId, loanA.loanId);
  assert.is(next.nextPageToken, "");
  // A merchant has no business with loans (policy).
  const merchant = clientAs(LoanService, sys.cfg.urls.loan, await tokenFor(sys, Role.MERCHANT_ADMIN, { merchantId: randomUUID() }));
  await rejects(merchant.getLoan({ loanId: loanA.loanId }), Code.PermissionDenied);
});

test("idempotency: a retry after Redis lost the key is replayed from the Postgres guard, not recorded twice", async () => {
  const bank = await bankWithProduct();
  const who = principal(Role.BANK_SYSTEM, { bankId: bank.bankId });
  const core = clientAs(LoanService, sys.cfg.urls.loan, await mintAccessToken(sys, who));
  const svc = loanAsService();
  const loan = (await svc.createLoanFromSettlement(settlement(bank, { driverId: randomUUID(), lineId: randomUUID(), transactionId: randomUUID() }, 5_000n), key())).loan!;
  const k = randomUUID();
  const req = { loanId: loan.loanId, amount: ngn(1_000n), externalReference: `R-${randomUUID()}` };
  const first = await core.repayLoan(req, { headers: { "idempotency-key": k } });
  // Redis loses the key (flush, failover): only the Postgres row remembers the first run.
  const slot = `idem:loan:fuel.loan.v1.LoanService/RepayLoan:${who.subjectId}:${k}`;
  assert.is(await sys.infra.kv.del(slot), 1, "the fast-path record existed");
  const retry = await core.repayLoan(req, { headers: { "idempotency-key": k } });
  assert.is(retry.repayment!.repaymentId, first.repayment!.repaymentId);
  const { rows } = await db.query(`SELECT count(*)::int AS n FROM loan.repayments WHERE loan_id = $1`, [loan.loanId]);
  assert.is(rows[0].n, 1);
  // The same key with another request is refused.
  await sys.infra.kv.del(slot);
  await rejects(core.repayLoan({ ...req, amount: ngn(999n) }, { headers: { "idempotency-key": k } }), Code.InvalidArgument, "IDEMPOTENCY_KEY_REUSED");
});

test("bad input → INVALID_ARGUMENT naming the field", async () => {
  const bank = await bankWithProduct();
  await rejects(bank.loans.getLoan({ loanId: "x" }), Code.InvalidArgument, "loan_id");
  await rejects(bank.loans.repayLoan({ loanId: randomUUID(), amount: ngn(0n), externalReference: "R" }), Code.InvalidArgument, "amount.amount_minor");
  await rejects(bank.loans.repayLoan({ loanId: randomUUID(), amount: ngn(5n), externalReference: "" }), Code.InvalidArgument, "external_reference");
  await rejects(bank.loans.repayLoan({ loanId: randomUUID(), amount: ngn(5n), externalReference: "x".repeat(129) }), Code.InvalidArgument, "external_reference");
  await rejects(bank.loans.listLoans({ pageSize: -1 }), Code.InvalidArgument, "page_size");
  await rejects(bank.loans.listLoans({ statuses: [99 as LoanStatus] }), Code.InvalidArgument, "statuses");
  await rejects(bank.loans.listLoans({ startTime: { seconds: 2_000_000_000n, nanos: 0 }, endTime: { seconds: 1_900_000_000n, nanos: 0 } }), Code.InvalidArgument, "start_time");
  // A page size over the maximum is treated as the maximum, not refused.
  assert.ok(await bank.loans.listLoans({ pageSize: 1_000 }));
});

test("credit restore: retried through a CreditService outage, then exactly once; a redelivery restores nothing twice", async () => {
  const bank = await bankWithProduct();
  const p = await purchase(bank, 30_000n);
  const svc = loanAsService();
  const loan = (await svc.createLoanFromSettlement(settlement(bank, p, 30_000n), key())).loan!;
  // CreditService goes down; the repayment is still recorded, its restore waits in the outbox.
  await sys.services.credit!.close();
  const rep = await bank.loans.repayLoan({ loanId: loan.loanId, amount: ngn(10_400n), externalReference: `O-${randomUUID()}` });
  assert.is(rep.repayment!.allocation!.principal!.amountMinor, 10_000n);
  assert.is(rep.repayment!.creditRestored, false);
  const failed = await until("failed attempts", async () => {
    const { rows } = await db.query(`SELECT attempts, last_error FROM loan.outbox WHERE repayment_id = $1`, [rep.repayment!.repaymentId]);
    return rows[0] && rows[0].attempts >= 2 ? rows[0] : null;
  });
  assert.match(failed.last_error, /UNAVAILABLE|DEADLINE|INTERNAL|UNKNOWN/i);
  // Back up: the relay's next retry succeeds.
  sys.services.credit = await bootService(MODULES.credit, sys.infra, jwksFromAuth, sys.cfg.ports.credit);
  await until("restored after the outage", async () => (await lineUsed(bank, p.lineId)) === 20_000n, 20_000);
  await until("marked restored", async () => (await bank.loans.getLoanStatement({ loanId: loan.loanId })).repayments[0]!.creditRestored);
  // Simulate a relay that crashed after the call but before recording it: the row is due again.
  await db.query(`UPDATE loan.outbox SET delivered_at = NULL, next_attempt_at = now() WHERE repayment_id = $1`, [rep.repayment!.repaymentId]);
  await until("redelivered", async () => {
    const { rows } = await db.query(`SELECT delivered_at FROM loan.outbox WHERE repayment_id = $1`, [rep.repayment!.repaymentId]);
    return rows[0]?.delivered_at;
  });
  assert.is(await lineUsed(bank, p.lineId), 20_000n, "restored once, not twice");
  assert.is((await repaymentEntries(bank, p.lineId)).length, 1);
});

test.run();
