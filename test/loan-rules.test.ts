// LoanService pure rules: half-even rounding, allocation order (fast-check properties),
// fee and daily interest, the balance replay, due-date math and aging transitions.
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { create } from "@bufbuild/protobuf";
import { CreateLoanFromSettlementRequestSchema, LoanStatus } from "../gen/fuel/loan/v1/loan_pb.js";
import { agedStatus, decideAging, pastDue, reminderDue } from "../services/loan/aging-rule.js";
import { AGING_BUCKETS, AgingTotals, bucketIndex } from "../services/loan/aging-report-rule.js";
import { allocate } from "../services/loan/allocation.js";
import { DAY_MS, dueTime, fullDaysBetween } from "../services/loan/due-date.js";
import { dailyInterest, loanFee, replayLoan, totalOutstanding } from "../services/loan/interest.js";
import { noticeFor } from "../services/loan/notices.js";
import { backoffMs } from "../services/loan/outbox.js";
import { loanOf, MAX_SKEW_MS, productLends, settlementHash, settlementOf, type Settlement } from "../services/loan/create-loan-rule.js";
import { loanAtOnceSql, type LoanAtOnce } from "../services/loan/create-loan-sql.js";
import { ProductTerms } from "../services/loan/product-terms.js";
import { createHash } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { applyBps, roundHalfEven } from "../platform/money.js";
import type { LoanRow, ProductRow } from "../services/loan/store.js";

const test = suite("loan rules");
const T0 = new Date("2025-01-01T08:00:00.000Z");
const at = (days: number, extraMs = 0) => new Date(T0.getTime() + days * DAY_MS + extraMs);

test("rounding: half-even on exact ties, nearest otherwise, both signs", () => {
  assert.is(roundHalfEven(5n, 2n), 2n); // 2.5 → 2
  assert.is(roundHalfEven(7n, 2n), 4n); // 3.5 → 4
  assert.is(roundHalfEven(-5n, 2n), -2n);
  assert.is(roundHalfEven(-7n, 2n), -4n);
  assert.is(roundHalfEven(14_999n, 10_000n), 1n);
  assert.is(roundHalfEven(15_001n, 10_000n), 2n);
  assert.is(roundHalfEven(25_000n, 10_000n), 2n);
  assert.is(roundHalfEven(35_000n, 10_000n), 4n);
  assert.is(roundHalfEven(10n, -4n), -2n); // -2.5 → -2
  assert.throws(() => roundHalfEven(1n, 0n));
  // 12 345 × 5 bps = 6.1725 → 6; 30 000 × 5 bps = 15 exactly; 50 × 1000 bps = 5.
  assert.is(applyBps(12_345n, 5), 6n);
  assert.is(applyBps(30_000n, 5), 15n);
  assert.is(applyBps(10_000n, 5), 5n);
  assert.is(applyBps(1_000n, 5), 0n); // 0.5 → 0 (even)
  assert.is(applyBps(3_000n, 5), 2n); // 1.5 → 2 (even)
});

test("rounding: property — within half a unit, ties to even, exact when divisible", () => {
  fc.assert(
    fc.property(fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }), fc.bigInt({ min: 1n, max: 10n ** 6n }), (n, d) => {
      const r = roundHalfEven(n, d);
      const diff2 = 2n * (n - r * d); // 2·(n/d − r)·d
      assert.ok(diff2 <= d && diff2 >= -d, "within half a unit");
      if (diff2 === d || diff2 === -d) assert.is(r % 2n, 0n, "tie goes to even");
      if (n % d === 0n) assert.is(r, n / d);
    }),
    { numRuns: 2000 },
  );
});

test("allocation: fees first, then interest, then principal; the rest is unapplied", () => {
  assert.equal(allocate(100n, { fee: 30n, interest: 50n, principal: 1000n }), { fee: 30n, interest: 50n, principal: 20n, applied: 100n, unapplied: 0n });
  assert.equal(allocate(20n, { fee: 30n, interest: 50n, principal: 1000n }), { fee: 20n, interest: 0n, principal: 0n, applied: 20n, unapplied: 0n });
  assert.equal(allocate(60n, { fee: 30n, interest: 50n, principal: 1000n }), { fee: 30n, interest: 30n, principal: 0n, applied: 60n, unapplied: 0n });
  assert.equal(allocate(2000n, { fee: 30n, interest: 50n, principal: 1000n }), { fee: 30n, interest: 50n, principal: 1000n, applied: 1080n, unapplied: 920n });
  assert.equal(allocate(0n, { fee: 1n, interest: 1n, principal: 1n }), { fee: 0n, interest: 0n, principal: 0n, applied: 0n, unapplied: 0n });
  assert.throws(() => allocate(-1n, { fee: 0n, interest: 0n, principal: 0n }));
  assert.throws(() => allocate(1n, { fee: -1n, interest: 0n, principal: 0n }));
});

test("allocation: property — parts sum to applied, never negative, never over a balance, order respected", () => {
  const amt = fc.bigInt({ min: 0n, max: 10n ** 12n });
  fc.assert(
    fc.property(amt, amt, amt, amt, (amount, fee, interest, principal) => {
      const a = allocate(amount, { fee, interest, principal });
      assert.is(a.fee + a.interest + a.principal, a.applied);
      assert.is(a.applied + a.unapplied, amount);
      for (const part of [a.fee, a.interest, a.principal, a.unapplied]) assert.ok(part >= 0n);
      assert.ok(a.fee <= fee && a.interest <= interest && a.principal <= principal);
      // Order: a later bucket gets something only when every earlier one is fully paid;
      // money is left over only when everything is paid.
      if (a.interest > 0n) assert.is(a.fee, fee);
      if (a.principal > 0n) assert.is(a.interest, interest);
      if (a.unapplied > 0n) assert.ok(a.fee === fee && a.interest === interest && a.principal === principal);
      assert.is(a.applied, amount < fee + interest + principal ? amount : fee + interest + principal);
    }),
    { numRuns: 2000 },
  );
});

test("fee and interest: fee_fixed + fee_bps of principal; one day on outstanding principal", () => {
  assert.is(loanFee(100_000n, 500n, 150), 2_000n); // 500 + 1.5% of 100 000
  assert.is(loanFee(333n, 0n, 150), 5n); // 4.995 → 5
  assert.is(dailyInterest(100_000n, 5), 50n);
  assert.is(dailyInterest(0n, 5), 0n);
});

const terms = { principal: 100_000n, fee: 1_000n, dailyInterestBps: 10, disburseTime: T0 };

test("replay: whole days only; interest on outstanding principal; repayments change the base", () => {
  // 100 per day on 100 000; nothing before a full day.
  let r = replayLoan(terms, [], at(0, DAY_MS - 1));
  assert.is(r.balances.interestAccrued, 0n);
  r = replayLoan(terms, [], at(3, 5_000));
  assert.is(r.balances.interestAccrued, 300n);
  assert.equal(r.balances.accruedThrough, at(3));
  assert.is(totalOutstanding(r.balances), 101_300n);
  // Repay 51 200 at day 3 + 1h: fee 1 000, interest 300, principal 49 900 → principal 50 100.
  const reps = [{ repaymentId: "a", amount: 51_200n, receiveTime: at(3, 3_600_000) }];
  r = replayLoan(terms, reps, at(5));
  assert.equal(r.allocations.get("a"), { fee: 1_000n, interest: 300n, principal: 49_900n, applied: 51_200n, unapplied: 0n });
  assert.is(r.balances.principalOutstanding, 50_100n);
  // days 4 and 5 at round_half_even(50 100 × 10 / 10 000) = 50 (50.1 → 50).
  assert.is(r.balances.interestOutstanding, 100n);
  assert.is(r.balances.interestAccrued, 400n);
  assert.is(r.balances.totalRepaid, 51_200n);
  // Events: disbursement, fee, interest (3 days), repayment, interest (2 days).
  assert.equal(r.events.map((e) => e.kind), ["DISBURSEMENT", "FEE", "INTEREST", "REPAYMENT", "INTEREST"]);
  assert.equal(r.events.map((e) => e.amount), [100_000n, 1_000n, 300n, 51_200n, 100n]);
  assert.equal(r.events.map((e) => totalOutstanding(e.after)), [100_000n, 101_000n, 101_300n, 50_100n, 50_200n]);
  // Paid off: no more interest.
  const paid = replayLoan(terms, [{ repaymentId: "b", amount: 101_100n, receiveTime: at(1, 10) }], at(30));
  assert.is(totalOutstanding(paid.balances), 0n);
  assert.is(paid.balances.interestAccrued, 100n);
  // Repayments after as_of are ignored.
  assert.is(replayLoan(terms, reps, at(2)).balances.totalRepaid, 0n);
});

test("replay: property — balances never negative; repaid = sum of allocations; total = lent + fee + interest − repaid", () => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: 1n, max: 10n ** 9n }),
      fc.integer({ min: 0, max: 1000 }),
      fc.array(fc.record({ amount: fc.bigInt({ min: 1n, max: 10n ** 9n }), offset: fc.integer({ min: 0, max: 200 * DAY_MS }) }), { maxLength: 12 }),
      (principal, bps, raw) => {
        const t = { principal, fee: applyBps(principal, 100), dailyInterestBps: bps, disburseTime: T0 };
        const reps = raw
          .map((x, i) => ({ repaymentId: String(i), amount: x.amount, receiveTime: new Date(T0.getTime() + x.offset) }))
          .sort((a, b) => a.receiveTime.getTime() - b.receiveTime.getTime());
        const r = replayLoan(t, reps, at(220));
        const b = r.balances;
        for (const v of [b.principalOutstanding, b.feeOutstanding, b.interestOutstanding]) assert.ok(v >= 0n);
        let applied = 0n;
        for (const a of r.allocations.values()) applied += a.applied;
        assert.is(b.totalRepaid, applied);
        assert.is(totalOutstanding(b), principal + t.fee + b.interestAccrued - b.totalRepaid);
      },
    ),
    { numRuns: 300 },
  );
});

test("due dates and day counts are whole 24-hour days", () => {
  assert.equal(dueTime(T0, 30), new Date("2025-01-31T08:00:00.000Z"));
  assert.is(fullDaysBetween(T0, at(2, -1)), 1);
  assert.is(fullDaysBetween(T0, at(2)), 2);
  assert.is(fullDaysBetween(at(2), T0), 0);
});

test("aging: ACTIVE until due, OVERDUE after, DEFAULTED at the threshold, PAID_OFF at zero, cured back", () => {
  const due = at(30);
  assert.equal(pastDue(500n, due, due), { amountPastDue: 0n, daysPastDue: 0 });
  assert.equal(pastDue(500n, due, at(30, 1)), { amountPastDue: 500n, daysPastDue: 0 });
  assert.equal(pastDue(500n, due, at(40)), { amountPastDue: 500n, daysPastDue: 10 });
  assert.equal(pastDue(0n, due, at(40)), { amountPastDue: 0n, daysPastDue: 0 });
  assert.is(agedStatus(500n, pastDue(500n, due, at(29)), 90), LoanStatus.ACTIVE);
  assert.is(agedStatus(500n, pastDue(500n, due, at(31)), 90), LoanStatus.OVERDUE);
  assert.is(agedStatus(500n, pastDue(500n, due, at(119, -1)), 90), LoanStatus.OVERDUE);
  assert.is(agedStatus(500n, pastDue(500n, due, at(120)), 90), LoanStatus.DEFAULTED);
  assert.is(agedStatus(0n, pastDue(0n, due, at(120)), 90), LoanStatus.PAID_OFF);
  // Cure: nothing past due any more → back to ACTIVE (or PAID_OFF when nothing is owed).
  assert.is(agedStatus(500n, { amountPastDue: 0n, daysPastDue: 0 }, 90), LoanStatus.ACTIVE);

  const base = { totalOutstanding: 500n, due, defaultAfterDays: 90, reminderDaysBeforeDue: 3, reminderSent: false };
  assert.equal(decideAging({ ...base, current: LoanStatus.ACTIVE, asOf: at(10) }), { to: null, daysPastDue: 0, notices: [] });
  assert.equal(decideAging({ ...base, current: LoanStatus.ACTIVE, asOf: at(28) }), { to: null, daysPastDue: 0, notices: ["DUE_REMINDER"] });
  assert.equal(decideAging({ ...base, reminderSent: true, current: LoanStatus.ACTIVE, asOf: at(28) }), { to: null, daysPastDue: 0, notices: [] });
  assert.equal(decideAging({ ...base, current: LoanStatus.ACTIVE, asOf: at(35) }), { to: LoanStatus.OVERDUE, daysPastDue: 5, notices: ["OVERDUE"] });
  assert.equal(decideAging({ ...base, current: LoanStatus.OVERDUE, asOf: at(35) }), { to: null, daysPastDue: 5, notices: [] });
  assert.equal(decideAging({ ...base, current: LoanStatus.OVERDUE, asOf: at(121) }), { to: LoanStatus.DEFAULTED, daysPastDue: 91, notices: ["DEFAULTED"] });
  assert.equal(decideAging({ ...base, current: LoanStatus.ACTIVE, asOf: at(200) }), { to: LoanStatus.DEFAULTED, daysPastDue: 170, notices: ["DEFAULTED"] });
  assert.equal(decideAging({ ...base, current: LoanStatus.DEFAULTED, asOf: at(200) }), { to: null, daysPastDue: 170, notices: [] });
  // Cured: a defaulted loan with nothing owed any more is PAID_OFF; PAID_OFF is terminal.
  assert.equal(decideAging({ ...base, totalOutstanding: 0n, current: LoanStatus.DEFAULTED, asOf: at(200) }), { to: LoanStatus.PAID_OFF, daysPastDue: 0, notices: [] });
  assert.equal(decideAging({ ...base, current: LoanStatus.PAID_OFF, asOf: at(200) }), { to: null, daysPastDue: 0, notices: [] });
  // Reminder window: [due − 3 days, due]; none when the product sets 0 days.
  assert.not.ok(reminderDue({ ...base, asOf: at(27, -1) }));
  assert.ok(reminderDue({ ...base, asOf: at(27) }));
  assert.ok(reminderDue({ ...base, asOf: due }));
  assert.not.ok(reminderDue({ ...base, asOf: at(30, 1) }));
  assert.not.ok(reminderDue({ ...base, reminderDaysBeforeDue: 0, asOf: at(29) }));
});

test("outbox backoff grows exponentially, is capped and jittered", () => {
  const o = { baseBackoffMs: 100, maxBackoffMs: 1_000 };
  assert.is(backoffMs(1, o, () => 1), 100);
  assert.is(backoffMs(2, o, () => 1), 200);
  assert.is(backoffMs(3, o, () => 0), 200);
  assert.is(backoffMs(50, o, () => 1), 1_000);
  assert.is(backoffMs(1000, o, () => 0), 500);
});

test("borrower notices state amounts in the currency's units and the loan's terms", () => {
  const t = new Date("2030-03-01T10:00:00Z");
  const loan: LoanRow = {
    loan_id: "l", transaction_id: "t", settlement_hash: "h", driver_id: "d", agency_id: null, bank_id: "b", credit_line_id: "c", product_id: "p",
    currency: "NGN", principal: 1_850_050n, fee: 18_500n, daily_interest_bps: 5, term_days: 30, default_after_days: 90, reminder_days_before_due: 3,
    disburse_time: t, due_time: new Date("2030-03-31T10:00:00Z"), status: "ACTIVE", paid_off_time: null, default_time: null, reminder_sent_time: null,
    borrower_user_id: null, version: 1n, create_time: t, update_time: t,
  };
  const plain = (s: string) => s.replace(/\u00a0/g, " ");
  const opened = noticeFor("OPENED", loan, loan.principal + loan.fee);
  assert.is(opened.kind, "LOAN_OPENED");
  assert.is(opened.driverId, "d");
  assert.is(
    plain(opened.body),
    "Your fuel purchase of NGN 18,500.50 is now a loan. Fee NGN 185.00; interest 0.05% a day on the principal outstanding; due on 2030-03-31 10:00 UTC. Outstanding now: NGN 18,685.50.",
  );
  assert.match(plain(noticeFor("OVERDUE", loan, 2_000_000n).body), "Outstanding: NGN 20,000.00.");
});

const BANK = "6f1c2a9e-0000-4000-8000-000000000001";
const product = (over: Partial<ProductRow> = {}): ProductRow => ({
  product_id: "6f1c2a9e-0000-4000-8000-0000000000a1", bank_id: BANK, name: "Fuel 30", currency: "NGN", fee_fixed: 100n, fee_bps: 100,
  daily_interest_bps: 10, term_days: 30, default_after_days: 90, reminder_days_before_due: 3, is_default: true, status: "ACTIVE",
  version: 4n, create_time: T0, update_time: T0, ...over,
});
const settled: Settlement = {
  transactionId: "6f1c2a9e-0000-4000-8000-0000000000b1", driverId: "6f1c2a9e-0000-4000-8000-0000000000c1", agencyId: null, bankId: BANK,
  creditLineId: "6f1c2a9e-0000-4000-8000-0000000000d1", principalMinor: 50_000n, currency: "NGN", settleTime: at(0, 1_000), productId: null,
};

test("settlement: validated from the request; a settle time ahead of the clock beyond the skew is refused", () => {
  const req = (over: { principal?: { amountMinor: bigint; currency: string }; loanProductId?: string } = {}) => create(CreateLoanFromSettlementRequestSchema, {
    transactionId: settled.transactionId, driverId: settled.driverId, agencyId: "", bankId: BANK, creditLineId: settled.creditLineId,
    principal: { amountMinor: 50_000n, currency: "NGN" }, settleTime: { seconds: BigInt(T0.getTime() / 1000) + 1n, nanos: 0 }, loanProductId: "",
    ...over,
  });
  assert.equal(settlementOf(req(), T0), settled);
  const refused = (f: () => unknown): string => {
    try {
      f();
    } catch (err) {
      assert.is(ConnectError.from(err).code, Code.InvalidArgument);
      return ConnectError.from(err).rawMessage;
    }
    throw new Error("accepted");
  };
  assert.match(refused(() => settlementOf(req(), new Date(T0.getTime() - MAX_SKEW_MS))), "settle_time");
  assert.match(refused(() => settlementOf(req({ principal: { amountMinor: 0n, currency: "NGN" } }), T0)), "principal.amount_minor");
  assert.match(refused(() => settlementOf(req({ loanProductId: "x" }), T0)), "loan_product_id");
});

test("settlement hash: the request's values as given, as loans already stored carry it", () => {
  const old = createHash("sha256")
    .update(JSON.stringify([settled.transactionId, settled.driverId, null, BANK, settled.creditLineId, "50000", "NGN", at(0, 1_000).toISOString(), ""]))
    .digest("base64url");
  assert.is(settlementHash(settled), old);
  assert.is.not(settlementHash({ ...settled, principalMinor: 50_001n }), old);
  assert.is.not(settlementHash({ ...settled, settleTime: null }), old);
});

test("product: lends only as the bank's active product in the currency, the one named or the default", () => {
  assert.ok(productLends(product(), settled));
  assert.not.ok(productLends(undefined, settled));
  assert.not.ok(productLends(product({ status: "RETIRED" }), settled));
  assert.not.ok(productLends(product({ currency: "KES" }), settled));
  assert.not.ok(productLends(product({ bank_id: "6f1c2a9e-0000-4000-8000-000000000002" }), settled));
  assert.not.ok(productLends(product({ is_default: false }), settled), "not the default");
  assert.ok(productLends(product({ is_default: false }), { ...settled, productId: product().product_id }), "named");
  assert.not.ok(productLends(product(), { ...settled, productId: "6f1c2a9e-0000-4000-8000-0000000000a2" }), "another one named");
});

test("loan: terms copied from the product, fee charged, due a term after disbursement, the row as stored", () => {
  const now = at(0, 5_000);
  const l = loanOf(settled, product(), { loanId: "L", settlementHash: "H" }, now);
  assert.is(l.fee, 600n, "100 fixed + 1% of 50 000");
  assert.equal([l.daily_interest_bps, l.term_days, l.default_after_days, l.reminder_days_before_due], [10, 30, 90, 3]);
  assert.equal(l.disburse_time, settled.settleTime);
  assert.equal(l.due_time, at(30, 1_000));
  assert.equal([l.loan_id, l.settlement_hash, l.product_id, l.status, l.version], ["L", "H", product().product_id, "ACTIVE", 1n]);
  assert.equal([l.create_time, l.update_time], [now, now]);
  assert.equal(loanOf({ ...settled, settleTime: null }, product(), { loanId: "L", settlementHash: "H" }, now).disburse_time, now, "no settle time: disbursed now");
});

test("product terms: what this instance saw, by id and as a bank's default; a retired or replaced default is dropped", () => {
  const terms = new ProductTerms(3);
  const p = product();
  assert.is(terms.of(settled), undefined);
  terms.saw(p);
  assert.is(terms.of(settled), p);
  assert.is(terms.of({ ...settled, productId: p.product_id }), p);
  const next = product({ product_id: "6f1c2a9e-0000-4000-8000-0000000000a2" });
  terms.saw(next);
  assert.is(terms.of(settled), next, "the newer default replaces it");
  terms.saw({ ...next, status: "RETIRED", version: 5n });
  assert.is(terms.of(settled), undefined, "a retired default is no default");
  assert.is(terms.of({ ...settled, productId: next.product_id })!.status, "RETIRED", "kept by id, as seen");
  terms.saw(p);
  terms.forget(settled);
  assert.is(terms.of(settled), undefined);
  assert.is(terms.of({ ...settled, productId: p.product_id }), p);
  // Bounded: the oldest seen goes first.
  for (const i of [3, 4, 5]) terms.saw(product({ product_id: `6f1c2a9e-0000-4000-8000-0000000000a${i}`, is_default: false }));
  assert.is(terms.of({ ...settled, productId: p.product_id }), undefined);
});

test("one statement: the product as read gates the key row, the key row the loan, the loan its notice", () => {
  const loan = loanOf(settled, product(), { loanId: "6f1c2a9e-0000-4000-8000-0000000000e1", settlementHash: "H" }, T0);
  const w: LoanAtOnce = {
    loan,
    product: { productId: product().product_id, version: 4n, asDefault: true },
    notice: { outboxId: "6f1c2a9e-0000-4000-8000-0000000000f1", payload: noticeFor("OPENED", loan, 50_600n), traceCarrier: {} },
    key: { scope: "s", key: "k", requestHash: "h", response: new Uint8Array([1, 2, 3]) },
  };
  const { text, values } = loanAtOnceSql(w);
  const flat = text.replace(/\s+/g, " ");
  assert.match(flat, "version = $2::int8 AND status = 'ACTIVE' AND is_default");
  assert.not.match(loanAtOnceSql({ ...w, product: { ...w.product, asDefault: false } }).text, "is_default");
  const order = ["FROM loan.products", "INSERT INTO loan.idempotency_keys", "INSERT INTO loan.loans", "INSERT INTO loan.outbox"].map((x) => flat.indexOf(x));
  assert.ok(order.every((x, i) => x >= 0 && (i === 0 || x > order[i - 1]!)), "in order");
  assert.match(flat, /idempotency_keys .* WHERE EXISTS \(SELECT 1 FROM p\)/);
  assert.match(flat, /loan\.loans .* WHERE EXISTS \(SELECT 1 FROM k\)/);
  assert.not.match(flat, "ON CONFLICT", "a conflict fails the statement; nothing is skipped");
  const used = Math.max(...[...text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
  assert.is(used, values.length);
  assert.ok(values.some((v) => Buffer.isBuffer(v) && v.equals(Buffer.from([1, 2, 3]))), "the answer goes as bytea");
  assert.ok(values.includes(loan.fee) && values.includes(1n), "the fee and the version as stored");
});

test("aging report buckets: every whole day past due in exactly one bucket, totals per currency", () => {
  assert.equal([0, 1, 30, 31, 60, 61, 90, 91, 10_000].map(bucketIndex), [0, 1, 1, 2, 2, 3, 3, 4, 4]);
  fc.assert(fc.property(fc.nat({ max: 100_000 }), (days) => {
    const holding = AGING_BUCKETS.filter((b) => days >= b.minDays && (b.maxDays === null || days <= b.maxDays));
    return holding.length === 1 && AGING_BUCKETS.indexOf(holding[0]!) === bucketIndex(days);
  }));
  assert.throws(() => bucketIndex(-1), /days past due/);
  assert.throws(() => bucketIndex(1.5), /days past due/);
  const t = new AgingTotals();
  t.add(0, "NGN", 100n);
  t.add(0, "NGN", 250n);
  t.add(0, "KES", 7n);
  t.add(45, "NGN", 9_007_199_254_740_993n);
  assert.equal(t.buckets.map((b) => b.loanCount), [3, 0, 1, 0, 0]);
  assert.equal([...t.buckets[0]!.outstandingMinor], [["NGN", 350n], ["KES", 7n]]);
  assert.is(t.buckets[2]!.outstandingMinor.get("NGN"), 9_007_199_254_740_993n, "bigint, beyond a double's exact range");
  assert.throws(() => t.add(3, "NGN", 0n), /nothing outstanding/);
});

test.run();
