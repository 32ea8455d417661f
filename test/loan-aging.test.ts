// Loan aging with a moved clock: reminders before due, OVERDUE after the due date,
// DEFAULTED after the product's days past due, back when cured (paid off, also by a
// back-dated repayment); each borrower notice delivered once through the outbox to
// NotificationService under the trace of the run that decided it; dry runs change
// nothing; concurrent runs process each loan once.
import { randomUUID } from "node:crypto";
import pg from "pg";
import * as assert from "uvu/assert";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Role } from "../gen/fuel/common/v1/common_pb.js";
import { LoanService, LoanStatus, StatementEventKind, type AgingTransition } from "../gen/fuel/loan/v1/loan_pb.js";
import { meshInterceptor } from "../platform/mesh.js";
import { ServiceTokens } from "../platform/tokens.js";
import { clientAs, creditSuite, Fixtures, ngn, tokenFor } from "./credit-fixtures.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";

const test = creditSuite("loan aging");
const DAY = 86_400_000;
let sys: TestSystem;
let fx: Fixtures;
let db: pg.Client;
let svc: Client<typeof LoanService>;
let admin: Client<typeof LoanService>;
let bank: { bankId: string; loans: Client<typeof LoanService> };

const key = () => ({ headers: { "idempotency-key": randomUUID() } });
const nowSeconds = () => BigInt(Math.floor(sys.clock.now().getTime() / 1000));

async function until<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function newLoan(driverId: string, principal = 10_000n) {
  return (await svc.createLoanFromSettlement({
    transactionId: randomUUID(), driverId, bankId: bank.bankId, creditLineId: randomUUID(),
    principal: ngn(principal), settleTime: { seconds: nowSeconds(), nanos: 0 },
  }, key())).loan!;
}

/** A KYC driver (so KycService resolves the borrower's user) and their user id. */
async function borrower() {
  const d = await fx.driver("", false);
  const userId = (await fx.kycAdmin().getDriver({ driverId: d.driverId })).driver!.userId;
  return { ...d, userId };
}

async function noticesOf(userId: string) {
  const { rows } = await db.query(`SELECT kind, body, idem_key, trace_id FROM notification.notifications WHERE user_id = $1 ORDER BY create_time`, [userId]);
  return rows as { kind: string; body: string; idem_key: string; trace_id: string }[];
}

test.before(async () => {
  process.env.LOAN_AGING_INTERVAL_MS = "0"; // the tests run aging themselves
  sys = await startTestSystem();
  fx = await Fixtures.create(sys);
  db = new pg.Client({ connectionString: sys.databaseUrl });
  await db.connect();
  svc = createClient(LoanService, createGrpcTransport({ baseUrl: sys.cfg.urls.loan, interceptors: [meshInterceptor(new ServiceTokens(sys.cfg.meshSecret, "transaction"))] }));
  admin = clientAs(LoanService, sys.cfg.urls.loan, await tokenFor(sys, Role.SYSTEM_ADMIN));
  const bankId = randomUUID();
  const loans = clientAs(LoanService, sys.cfg.urls.loan, await tokenFor(sys, Role.BANK_ADMIN, { bankId }));
  await loans.createLoanProduct({
    name: "Fuel 10", currency: "NGN", dailyInterestBps: 10, termDays: 10, defaultAfterDaysPastDue: 5, reminderDaysBeforeDue: 2, isDefault: true,
  });
  bank = { bankId, loans };
});
test.after(async () => {
  await db?.end();
  await sys?.stop();
});

test("aging with a moved clock: reminder, OVERDUE, DEFAULTED, cured; each notice once, under the deciding trace", async () => {
  const d1 = await borrower();
  const d2 = await borrower();
  const l1 = await newLoan(d1.driverId);
  const l2 = await newLoan(d2.driverId);
  const mine = (r: { transitions: AgingTransition[] }) => r.transitions.filter((t) => t.loanId === l1.loanId || t.loanId === l2.loanId);

  let r = await admin.runAging({});
  assert.is(mine(r).length, 0);
  assert.is(r.notificationsQueued, 0);
  assert.ok(r.loansExamined >= 2);

  // Two days before due: the reminder, once.
  sys.clock.advance(8 * DAY + 3_600_000);
  r = await admin.runAging({});
  assert.is(mine(r).length, 0);
  assert.is(r.notificationsQueued, 2);
  r = await admin.runAging({});
  assert.is(r.notificationsQueued, 0, "a repeat notifies nobody twice");

  // Past due: a dry run reports without applying; the real run moves both to OVERDUE.
  sys.clock.advance(2 * DAY);
  const dry = await admin.runAging({ dryRun: true });
  assert.equal(mine(dry).map((t) => [LoanStatus[t.fromStatus], LoanStatus[t.toStatus]]), [["ACTIVE", "OVERDUE"], ["ACTIVE", "OVERDUE"]]);
  assert.is(dry.notificationsQueued, 0);
  assert.is((await bank.loans.getLoan({ loanId: l1.loanId })).loan!.status, LoanStatus.ACTIVE, "dry run changed nothing");
  r = await admin.runAging({});
  assert.equal(mine(r).map((t) => LoanStatus[t.toStatus]), ["OVERDUE", "OVERDUE"]);
  assert.is(r.notificationsQueued, 2);
  assert.is(mine(await admin.runAging({})).length, 0, "a repeat changes nothing");
  const overdue = (await bank.loans.getLoan({ loanId: l1.loanId })).loan!;
  assert.is(overdue.status, LoanStatus.OVERDUE);
  assert.is(overdue.amountPastDue!.amountMinor, overdue.totalOutstanding!.amountMinor);
  assert.ok(overdue.amountPastDue!.amountMinor > 0n);

  // Cured by a back-dated repayment: d2's bank received the full amount on day 5.
  const day5 = { seconds: l2.disburseTime!.seconds + 5n * 86_400n, nanos: 0 };
  const owedDay5 = (await bank.loans.getLoanStatement({ loanId: l2.loanId, asOfTime: day5 })).loan!.totalOutstanding!;
  assert.is(owedDay5.amountMinor, 10_050n, "10 000 + 5 days × 10");
  const cured = await bank.loans.repayLoan({ loanId: l2.loanId, amount: owedDay5, externalReference: `BD-${randomUUID()}`, receiveTime: day5 });
  assert.is(cured.loan!.status, LoanStatus.PAID_OFF);
  assert.is(cured.loan!.totalOutstanding!.amountMinor, 0n);
  assert.is(cured.loan!.amountPastDue!.amountMinor, 0n);
  assert.is(cured.loan!.daysPastDue, 0);
  assert.equal(cured.loan!.paidOffTime!.seconds, day5.seconds);
  const s2 = await bank.loans.getLoanStatement({ loanId: l2.loanId });
  assert.equal(s2.events.filter((e) => e.kind === StatementEventKind.STATUS_CHANGE).map((e) => LoanStatus[e.status]), ["OVERDUE", "PAID_OFF"]);
  assert.is(s2.loan!.status, LoanStatus.PAID_OFF);

  // 5 days past due: d1's loan defaults.
  sys.clock.advance(5 * DAY);
  r = await admin.runAging({});
  const t1 = mine(r);
  assert.equal(t1.map((t) => [LoanStatus[t.fromStatus], LoanStatus[t.toStatus], t.daysPastDue]), [["OVERDUE", "DEFAULTED", 5]]);
  const defaulted = (await bank.loans.getLoan({ loanId: l1.loanId })).loan!;
  assert.is(defaulted.status, LoanStatus.DEFAULTED);
  assert.ok(defaulted.defaultTime);
  assert.is(defaulted.daysPastDue, 5);
  // Interest keeps accruing after the due date: 15 full days × 10.
  assert.is(defaulted.interestAccrued!.amountMinor, 150n);

  // Repaid in full while in default: PAID_OFF (repayments are still accepted).
  const paid = await bank.loans.repayLoan({ loanId: l1.loanId, amount: defaulted.totalOutstanding!, externalReference: `PD-${randomUUID()}` });
  assert.is(paid.loan!.status, LoanStatus.PAID_OFF);
  assert.is(mine(await admin.runAging({})).length, 0, "PAID_OFF is terminal");
  const s1 = await bank.loans.getLoanStatement({ loanId: l1.loanId });
  assert.equal(s1.events.filter((e) => e.kind === StatementEventKind.STATUS_CHANGE).map((e) => LoanStatus[e.status]), ["OVERDUE", "DEFAULTED", "PAID_OFF"]);
  assert.is(s1.events[s1.events.length - 1]!.totalBalance!.amountMinor, 0n);

  // The borrowers got each notice exactly once, keyed by its outbox row, in the trace of
  // the request that decided it.
  const want1 = ["LOAN_OPENED", "LOAN_DUE_REMINDER", "LOAN_OVERDUE", "LOAN_DEFAULTED", "LOAN_PAID_OFF"];
  const got1 = await until("d1 notices", async () => {
    const n = await noticesOf(d1.userId);
    return n.length >= want1.length ? n : null;
  });
  assert.equal(got1.map((n) => n.kind), want1);
  // Amounts read as money, not minor units: the 10,000-kobo loan is NGN 100.00 (the
  // product charges no fee), its interest 10 basis points a day.
  const text = (kind: string) => got1.find((n) => n.kind === kind)!.body.replace(/\u00a0/g, " ");
  assert.match(text("LOAN_OPENED"), "Your fuel purchase of NGN 100.00 is now a loan. Fee NGN 0.00; interest 0.10% a day");
  assert.match(text("LOAN_OPENED"), "Outstanding now: NGN 100.00.");
  assert.match(text("LOAN_DUE_REMINDER"), "fuel loan of NGN 100.00 is due on");
  const got2 = await until("d2 notices", async () => {
    const n = await noticesOf(d2.userId);
    return n.length >= 4 ? n : null;
  });
  assert.equal(got2.map((n) => n.kind), ["LOAN_OPENED", "LOAN_DUE_REMINDER", "LOAN_OVERDUE", "LOAN_PAID_OFF"]);
  const { rows } = await db.query(
    `SELECT outbox_id::text AS id, trace_carrier->>'traceparent' AS tp FROM loan.outbox WHERE kind = 'NOTIFY' AND loan_id = $1 ORDER BY seq`,
    [l1.loanId],
  );
  assert.is(rows.length, 5);
  for (const [i, row] of rows.entries()) {
    assert.is(got1[i]!.idem_key, row.id);
    assert.ok(row.tp, "trace context stored with the row");
    assert.is(got1[i]!.trace_id, String(row.tp).split("-")[1], "delivery continues the deciding trace");
  }
  // Waiting a little longer delivers nothing more.
  await new Promise((res) => setTimeout(res, 500));
  assert.is((await noticesOf(d1.userId)).length, 5);
});

test("a loan's notices reach the borrower in the order they were decided, even when an earlier one waits for a retry", async () => {
  const d = await borrower();
  const l = await newLoan(d.driverId);
  await until("the opening notice", async () => ((await noticesOf(d.userId)).length === 1 ? true : null));
  const notice = (kind: string) => JSON.stringify({ driverId: d.driverId, kind, title: kind, body: kind });
  // The OVERDUE notice failed once and waits out its backoff; the PAID_OFF notice decided
  // after it is due now. Delivering PAID_OFF first would tell the driver "repaid" and then
  // "overdue".
  await db.query(
    `INSERT INTO loan.outbox (outbox_id, kind, loan_id, payload, attempts, next_attempt_at) VALUES
       ($1, 'NOTIFY', $3, $4, 1, now() + interval '2500 milliseconds'),
       ($2, 'NOTIFY', $3, $5, 0, now())`,
    [randomUUID(), randomUUID(), l.loanId, notice("LOAN_OVERDUE"), notice("LOAN_PAID_OFF")],
  );
  // The relay polls every 200 ms in the tests: several passes go by while the first waits.
  await new Promise((res) => setTimeout(res, 1000));
  assert.equal((await noticesOf(d.userId)).map((n) => n.kind), ["LOAN_OPENED"], "the later notice waits behind the earlier one");
  const got = await until("both notices", async () => {
    const n = await noticesOf(d.userId);
    return n.length >= 3 ? n : null;
  });
  assert.equal(got.map((n) => n.kind), ["LOAN_OPENED", "LOAN_OVERDUE", "LOAN_PAID_OFF"]);

  // A notice given up on (dead) does not hold back the ones after it.
  await db.query(
    `INSERT INTO loan.outbox (outbox_id, kind, loan_id, payload, attempts, dead_at) VALUES ($1, 'NOTIFY', $2, $3, 20, now())`,
    [randomUUID(), l.loanId, notice("LOAN_DEFAULTED")],
  );
  await db.query(`INSERT INTO loan.outbox (outbox_id, kind, loan_id, payload) VALUES ($1, 'NOTIFY', $2, $3)`, [randomUUID(), l.loanId, notice("LOAN_DUE_REMINDER")]);
  const after = await until("the notice after a dead one", async () => {
    const n = await noticesOf(d.userId);
    return n.length >= 4 ? n : null;
  });
  assert.equal(after.map((n) => n.kind), ["LOAN_OPENED", "LOAN_OVERDUE", "LOAN_PAID_OFF", "LOAN_DUE_REMINDER"]);
});

test("concurrent aging runs process each loan once and queue each notice once", async () => {
  const d = await borrower();
  const loans = await Promise.all(Array.from({ length: 12 }, () => newLoan(d.driverId, 1_000n)));
  const ids = new Set(loans.map((l) => l.loanId));
  sys.clock.advance(11 * DAY);
  const runs = await Promise.all(Array.from({ length: 4 }, () => admin.runAging({})));
  const moved = runs.flatMap((r) => r.transitions).filter((t) => ids.has(t.loanId));
  assert.is(moved.length, 12, "each loan moved once across the runs");
  assert.is(new Set(moved.map((t) => t.loanId)).size, 12);
  assert.ok(moved.every((t) => t.toStatus === LoanStatus.OVERDUE));
  const { rows } = await db.query(
    `SELECT count(*)::int AS changes, (SELECT count(*)::int FROM loan.outbox WHERE kind = 'NOTIFY' AND loan_id = ANY($1::uuid[])) AS notices
       FROM loan.status_changes WHERE loan_id = ANY($1::uuid[])`,
    [[...ids]],
  );
  assert.is(rows[0].changes, 12);
  assert.is(rows[0].notices, 24, "per loan its opening notice and one overdue notice (the reminder window was skipped)");
  const list = await bank.loans.listLoans({ driverId: d.driverId, statuses: [LoanStatus.OVERDUE], pageSize: 100 });
  assert.is(list.loans.length, 12);
  await until("all delivered", async () => (await noticesOf(d.userId)).length === 24 ? true : null);
});

test("GetAgingReport: open loans in buckets of days past due, as of now, per bank; paid off in none", async () => {
  // Every token minted before the clock moves: AuthService rotates its signing key by its
  // clock, and a key minted after the move would be one the services have not fetched.
  const bankId = randomUUID();
  const officer = clientAs(LoanService, sys.cfg.urls.loan, await tokenFor(sys, Role.BANK_ADMIN, { bankId }));
  const sysadmin = clientAs(LoanService, sys.cfg.urls.loan, await tokenFor(sys, Role.SYSTEM_ADMIN));
  const other = clientAs(LoanService, sys.cfg.urls.loan, await tokenFor(sys, Role.BANK_ADMIN, { bankId: randomUUID() }));
  await officer.createLoanProduct({
    name: "Fuel 10", currency: "NGN", dailyInterestBps: 10, termDays: 10, defaultAfterDaysPastDue: 60, reminderDaysBeforeDue: 2, isDefault: true,
  });
  const d = await borrower();
  const make = async (principal: bigint) => (await svc.createLoanFromSettlement({
    transactionId: randomUUID(), driverId: d.driverId, bankId, creditLineId: randomUUID(),
    principal: ngn(principal), settleTime: { seconds: nowSeconds(), nanos: 0 },
  }, key())).loan!;
  const late = await make(20_000n);
  const paid = await make(5_000n);
  await officer.repayLoan({ loanId: paid.loanId, amount: (await officer.getLoan({ loanId: paid.loanId })).loan!.totalOutstanding!, externalReference: `AR-${randomUUID()}` });
  // Ten days' term: fifteen days on, the first loan is 5 days past due — before any aging run.
  sys.clock.advance(15 * DAY);
  const fresh = await make(10_000n);
  const owed = async (loanId: string) => (await officer.getLoan({ loanId })).loan!.totalOutstanding!.amountMinor;

  const report = await officer.getAgingReport({});
  assert.equal(report.buckets.map((b) => [b.minDaysPastDue, b.maxDaysPastDue]), [[0, 0], [1, 30], [31, 60], [61, 90], [91, -1]]);
  assert.equal(report.buckets.map((b) => b.loanCount), [1n, 1n, 0n, 0n, 0n]);
  assert.equal(report.buckets[0]!.outstanding.map((m) => [m.currency, m.amountMinor]), [["NGN", await owed(fresh.loanId)]]);
  assert.equal(report.buckets[1]!.outstanding.map((m) => [m.currency, m.amountMinor]), [["NGN", await owed(late.loanId)]]);
  assert.equal(report.buckets[2]!.outstanding, []);
  assert.ok(report.loansExamined >= 2n, "the paid-off loan may still await its aging run; it is in no bucket");
  assert.is(Number(report.asOfTime!.seconds), Math.floor(sys.clock.now().getTime() / 1000));

  // The same for a system admin naming the bank; another bank's officer sees none of it.
  const bySysadmin = await sysadmin.getAgingReport({ bankId });
  assert.equal(bySysadmin.buckets.map((b) => b.loanCount), [1n, 1n, 0n, 0n, 0n]);
  assert.equal((await other.getAgingReport({ bankId })).buckets.map((b) => b.loanCount), [0n, 0n, 0n, 0n, 0n]);
  const err = await sysadmin.getAgingReport({ bankId: "not-a-uuid" }).then(() => null, (e: unknown) => ConnectError.from(e));
  assert.is(err?.code, Code.InvalidArgument);
  assert.match(err!.message, "bank_id");
});

test.run();
