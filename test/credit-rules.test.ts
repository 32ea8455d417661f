// Unit tests of CreditService's pure rules: the posting builder and its zero-sum
// assertion, the hold decision and spendable amount, spending controls (fuel, station,
// hours in a time zone, daily limits), limits by category and the decrease policy, and
// the risk scorecard.
import * as assert from "uvu/assert";
import fc from "fast-check";
import { Code, ConnectError } from "@connectrpc/connect";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { FuelType } from "../gen/fuel/common/v1/common_pb.js";
import { DeclineReason, LimitDecreasePolicy, LimitSource, RiskCategory, SpendingControlsSchema, Weekday, type SpendingControls } from "../gen/fuel/credit/v1/credit_line_pb.js";
import { LimitingFactor } from "../gen/fuel/credit/v1/credit_pb.js";
import { LedgerAccount } from "../gen/fuel/credit/v1/ledger_pb.js";
import { RiskReasonCode } from "../gen/fuel/credit/v1/risk_pb.js";
import { reasonOf } from "../platform/errors.js";
import { normalizeControls, staticDecline, withinHours } from "../services/credit/controls-rule.js";
import { decideHold, spendable, type HoldAsk, type LineState } from "../services/credit/hold-rule.js";
import { applyDecreasePolicy, policyMaximum, rootLimit } from "../services/credit/limit-rules.js";
import {
  assertBalanced,
  capturePostings,
  counterDeltas,
  holdPostings,
  LedgerInvariantError,
  limitChangePostings,
  releasePostings,
  repaymentPostings,
} from "../services/credit/postings.js";
import { scoreOf, type ScoreInputs } from "../services/credit/scorecard.js";
import { localDay } from "../platform/zoned-time.js";
import { creditSuite } from "./credit-fixtures.js";

const test = creditSuite("credit rules");
const STATION = "5b1c1e2a-0d7e-4c55-9a43-1f1f1f1f1f1f";
const MERCHANT = "6b1c1e2a-0d7e-4c55-9a43-1f1f1f1f1f1f";
const OTHER = "7b1c1e2a-0d7e-4c55-9a43-1f1f1f1f1f1f";
const NOON_LAGOS = new Date("2025-01-15T11:00:00Z"); // Wednesday 12:00 in Africa/Lagos (UTC+1)

const ngn = (amountMinor: bigint) => ({ amountMinor, currency: "NGN" });
const controls = (c: MessageInitShape<typeof SpendingControlsSchema>) => create(SpendingControlsSchema, c);
const line = (available: bigint, over: Partial<LineState> = {}): LineState => ({
  status: "ACTIVE", currency: "NGN", available, controls: null, dailyAmount: 0n, dailyCount: 0, ...over,
});
const ask = (amount: bigint, over: Partial<HoldAsk> = {}): HoldAsk => ({
  amount, currency: "NGN", allowPartial: false, minAmount: amount,
  purchase: { fuelType: FuelType.DIESEL, stationId: STATION, merchantId: MERCHANT, at: NOON_LAGOS }, ...over,
});

function throwsReason(fn: () => unknown, code: Code, reason: string) {
  try {
    fn();
  } catch (err) {
    assert.is(ConnectError.from(err).code, code);
    assert.is(reasonOf(err), reason);
    return;
  }
  assert.unreachable(`expected ${reason}`);
}

// ---- postings --------------------------------------------------------------------------

test("every movement's postings balance, per entry and per line, and imply the counter changes", () => {
  const ids = ["parent", "child"];
  const h = holdPostings(ids, 700n);
  assert.is(h.length, 4);
  assert.equal(counterDeltas(h).get("child"), { limit: 0n, held: 700n, used: 0n });
  const c = capturePostings(ids, 700n, 500n);
  assert.equal(counterDeltas(c).get("parent"), { limit: 0n, held: -700n, used: 500n });
  assert.equal(counterDeltas(releasePostings(ids, 700n)).get("child"), { limit: 0n, held: -700n, used: 0n });
  assert.equal(counterDeltas(repaymentPostings(["x"], 90n)).get("x"), { limit: 0n, held: 0n, used: -90n });
  assert.equal(counterDeltas(limitChangePostings(["x"], -40n)).get("x"), { limit: -40n, held: 0n, used: 0n });
  // Capturing zero posts no USED leg at all (no zero postings).
  assert.not.ok(capturePostings(["x"], 10n, 0n).some((p) => p.account === LedgerAccount.USED));
});

const isInvariant = (e: Error) => e instanceof LedgerInvariantError;

test("the zero-sum assertion refuses unbalanced entries and bad amounts before anything is written", () => {
  assert.throws(() => assertBalanced([{ lineId: "a", account: LedgerAccount.HELD, amount: 5n }]), isInvariant);
  assert.throws(() => assertBalanced([]), isInvariant);
  // Balanced overall but not per line: still refused.
  assert.throws(() => assertBalanced([
    { lineId: "a", account: LedgerAccount.HELD, amount: 5n },
    { lineId: "b", account: LedgerAccount.AVAILABLE, amount: -5n },
  ]), isInvariant);
  assert.throws(() => holdPostings(["a"], 0n), isInvariant);
  assert.throws(() => capturePostings(["a"], 10n, 11n), isInvariant);
  assert.throws(() => repaymentPostings(["a"], -1n), isInvariant);
});

test("property: any sequence of movements keeps limit = available + held + used", () => {
  fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 4 }), fc.bigInt({ min: 1n, max: 10n ** 15n }))), (ops) => {
    const acc = new Map<LedgerAccount, bigint>();
    for (const [op, amt] of ops) {
      const ps = [limitChangePostings, holdPostings, releasePostings, repaymentPostings, (ids: string[], a: bigint) => capturePostings(ids, a, a / 2n)][op]!(["l"], amt);
      for (const p of ps) acc.set(p.account, (acc.get(p.account) ?? 0n) + p.amount);
    }
    const total = [...acc.values()].reduce((a, b) => a + b, 0n);
    return total === 0n;
  }));
});

// ---- hold decision ---------------------------------------------------------------------

test("hold decision: both lines must fit; partial approval takes the smallest headroom", () => {
  assert.equal(decideHold(ask(500n), line(1000n), line(800n)), { approved: true, amount: 500n, reason: DeclineReason.UNSPECIFIED });
  assert.is(decideHold(ask(900n), line(1000n), line(800n)).reason, DeclineReason.PARENT_INSUFFICIENT_CREDIT);
  assert.is(decideHold(ask(900n), line(800n), line(1000n)).reason, DeclineReason.INSUFFICIENT_CREDIT);
  const partial = decideHold(ask(900n, { allowPartial: true, minAmount: 100n }), line(1000n), line(800n));
  assert.equal(partial, { approved: true, amount: 800n, reason: DeclineReason.UNSPECIFIED });
  assert.is(decideHold(ask(900n, { allowPartial: true, minAmount: 850n }), line(1000n), line(800n)).reason, DeclineReason.BELOW_MINIMUM_AMOUNT);
  assert.is(decideHold(ask(900n, { allowPartial: true, minAmount: 1n }), line(0n), null).reason, DeclineReason.INSUFFICIENT_CREDIT);
  assert.is(decideHold(ask(1n, { allowPartial: true, minAmount: 1n }), line(-50n), null).reason, DeclineReason.INSUFFICIENT_CREDIT);
});

test("hold decision: status, currency, per-transaction and daily limits", () => {
  assert.is(decideHold(ask(1n), line(10n, { status: "FROZEN" }), null).reason, DeclineReason.CREDIT_LINE_FROZEN);
  assert.is(decideHold(ask(1n), line(10n), line(10n, { status: "FROZEN" })).reason, DeclineReason.PARENT_LINE_FROZEN);
  assert.is(decideHold(ask(1n, { currency: "KES" }), line(10n), null).reason, DeclineReason.CURRENCY_MISMATCH);
  const ptm = line(10_000n, { controls: controls({ perTransactionMax: ngn(300n) }) });
  assert.is(decideHold(ask(301n), ptm, null).reason, DeclineReason.PER_TRANSACTION_LIMIT_EXCEEDED);
  assert.is(decideHold(ask(301n, { allowPartial: true, minAmount: 1n }), ptm, null).amount, 300n);
  // The parent's per-transaction maximum applies to its drivers too.
  assert.is(decideHold(ask(301n), line(10_000n), ptm).reason, DeclineReason.PER_TRANSACTION_LIMIT_EXCEEDED);
  const daily = controls({ dailyMax: ngn(1000n), dailyTransactionCountMax: 3, timeZone: "Africa/Lagos" });
  assert.is(decideHold(ask(300n), line(10_000n, { controls: daily, dailyAmount: 800n }), null).reason, DeclineReason.DAILY_LIMIT_EXCEEDED);
  assert.is(decideHold(ask(300n, { allowPartial: true, minAmount: 1n }), line(10_000n, { controls: daily, dailyAmount: 800n }), null).amount, 200n);
  assert.is(decideHold(ask(1n), line(10_000n, { controls: daily, dailyCount: 3 }), null).reason, DeclineReason.DAILY_COUNT_EXCEEDED);
});

test("spendable: the smallest of line, parent, per-transaction and daily, with the limiting factor", () => {
  assert.equal(spendable(line(500n), line(300n)), { amount: 300n, factor: LimitingFactor.PARENT_LINE, perTransactionMax: null, dailyRemaining: null });
  const c = controls({ perTransactionMax: ngn(200n), dailyMax: ngn(1000n), timeZone: "UTC" });
  assert.is(spendable(line(500n, { controls: c }), null).factor, LimitingFactor.PER_TRANSACTION_MAX);
  assert.is(spendable(line(500n, { controls: c, dailyAmount: 900n }), null).amount, 100n);
  assert.is(spendable(line(500n, { status: "FROZEN" }), null).factor, LimitingFactor.LINE_STATUS);
  assert.is(spendable(line(-10n), null).amount, 0n);
});

// ---- spending controls -------------------------------------------------------------------

test("controls: fuel types, stations or merchants, hours in the line's time zone", () => {
  const p = { fuelType: FuelType.PETROL, stationId: STATION, merchantId: MERCHANT, at: NOON_LAGOS };
  assert.is(staticDecline(controls({ allowedFuelTypes: [FuelType.DIESEL] }), p), DeclineReason.FUEL_TYPE_NOT_ALLOWED);
  assert.is(staticDecline(controls({ allowedFuelTypes: [FuelType.PETROL] }), p), null);
  assert.is(staticDecline(controls({ allowedStationIds: [OTHER] }), p), DeclineReason.STATION_NOT_ALLOWED);
  assert.is(staticDecline(controls({ allowedStationIds: [OTHER], allowedMerchantIds: [MERCHANT] }), p), null);
  const hours = (start: number, end: number, weekdays: Weekday[] = []) => controls({ allowedHours: [{ startMinute: start, endMinute: end, weekdays } as never], timeZone: "Africa/Lagos" });
  assert.is(staticDecline(hours(8 * 60, 18 * 60), p), null);
  assert.is(staticDecline(hours(13 * 60, 18 * 60), p), DeclineReason.OUTSIDE_ALLOWED_HOURS);
  assert.is(staticDecline(hours(8 * 60, 18 * 60, [Weekday.MONDAY]), p), DeclineReason.OUTSIDE_ALLOWED_HOURS);
  // Overnight window 22:00–06:00 opened on Tuesday covers Wednesday 01:00 local, not Wednesday noon.
  const night = [{ startMinute: 22 * 60, endMinute: 6 * 60, weekdays: [Weekday.TUESDAY] } as never];
  assert.ok(withinHours(night, new Date("2025-01-15T00:00:00Z"), "Africa/Lagos"));
  assert.not.ok(withinHours(night, NOON_LAGOS, "Africa/Lagos"));
  // The same instant is 12:00 in Lagos but 06:00 in New York.
  assert.not.ok(withinHours([{ startMinute: 11 * 60, endMinute: 13 * 60, weekdays: [] } as never], NOON_LAGOS, "America/New_York"));
});

test("controls validation names the field; daily limits need a time zone", () => {
  const bad = (c: MessageInitShape<typeof SpendingControlsSchema>, field: string) => {
    try {
      normalizeControls(controls(c), "NGN");
    } catch (err) {
      assert.is(ConnectError.from(err).code, Code.InvalidArgument);
      assert.match(ConnectError.from(err).message, field);
      return;
    }
    assert.unreachable(field);
  };
  bad({ perTransactionMax: { amountMinor: 10n, currency: "KES" } as never }, "controls.per_transaction_max.currency");
  bad({ dailyMax: ngn(10n) as never }, "controls.time_zone");
  bad({ dailyMax: ngn(10n) as never, timeZone: "Mars/Olympus" }, "controls.time_zone");
  bad({ allowedFuelTypes: [FuelType.UNSPECIFIED] }, "controls.allowed_fuel_types");
  bad({ allowedHours: [{ startMinute: 1440, endMinute: 10, weekdays: [] } as never], timeZone: "UTC" }, "controls.allowed_hours[0].start_minute");
  bad({ allowedStationIds: ["nope"] }, "controls.allowed_station_ids");
  assert.is(normalizeControls(controls({}), "NGN"), null);
  assert.ok(normalizeControls(controls({ dailyMax: ngn(10n) as never, timeZone: "Africa/Lagos" }), "NGN"));
});

test("local day bounds follow the time zone, across DST", () => {
  const d = localDay(NOON_LAGOS, "Africa/Lagos");
  assert.is(d.start.toISOString(), "2025-01-14T23:00:00.000Z");
  assert.is(d.end.toISOString(), "2025-01-15T23:00:00.000Z");
  // 2025-03-09 is 23 hours long in New York.
  const dst = localDay(new Date("2025-03-09T17:00:00Z"), "America/New_York");
  assert.is(dst.start.toISOString(), "2025-03-09T05:00:00.000Z");
  assert.is(dst.end.toISOString(), "2025-03-10T04:00:00.000Z");
});

// ---- limits ----------------------------------------------------------------------------

test("limits: policy maximum by category; override within it; ineligible never lent to", () => {
  const p = { low: 1000n, medium: 500n, high: null };
  assert.is(policyMaximum(p, RiskCategory.LOW), 1000n);
  assert.is(policyMaximum(p, RiskCategory.HIGH), 0n);
  assert.is(policyMaximum(p, RiskCategory.INELIGIBLE), 0n);
  assert.equal(rootLimit(p, RiskCategory.MEDIUM, null), { limit: 500n, source: LimitSource.POLICY });
  assert.equal(rootLimit(p, RiskCategory.MEDIUM, 400n), { limit: 400n, source: LimitSource.OVERRIDE });
  throwsReason(() => rootLimit(p, RiskCategory.MEDIUM, 501n), Code.FailedPrecondition, "LIMIT_ABOVE_POLICY");
  throwsReason(() => rootLimit(p, RiskCategory.HIGH, null), Code.FailedPrecondition, "SUBJECT_INELIGIBLE");
  throwsReason(() => rootLimit(p, RiskCategory.INELIGIBLE, 1n), Code.FailedPrecondition, "SUBJECT_INELIGIBLE");
});

test("decrease policy: never silent below exposure", () => {
  assert.is(applyDecreasePolicy(800n, 500n, LimitDecreasePolicy.UNSPECIFIED), 800n);
  throwsReason(() => applyDecreasePolicy(400n, 500n, LimitDecreasePolicy.UNSPECIFIED), Code.FailedPrecondition, "LIMIT_BELOW_EXPOSURE");
  throwsReason(() => applyDecreasePolicy(400n, 500n, LimitDecreasePolicy.REJECT), Code.FailedPrecondition, "LIMIT_BELOW_EXPOSURE");
  assert.is(applyDecreasePolicy(400n, 500n, LimitDecreasePolicy.CLAMP_TO_EXPOSURE), 500n);
  assert.is(applyDecreasePolicy(400n, 500n, LimitDecreasePolicy.ALLOW_OVER_LIMIT), 400n);
});

// ---- scorecard -------------------------------------------------------------------------

const facts = (over: Partial<ScoreInputs> = {}): ScoreInputs => ({
  subject: "DRIVER", kycVerified: true, accountAgeDays: 400, agencyId: "a", loansRepaidCount: 10, loansRepaidLateCount: 0,
  maxDaysPastDue: 0, hasDefaulted: false, utilisationBps: 2000, settledTransactions90d: 30, ...over,
});

test("scorecard: explainable points, category from the score, hard stops", () => {
  const good = scoreOf(facts());
  assert.is(good.category, RiskCategory.LOW);
  assert.is(good.score, Math.min(1000, 600 + good.reasons.reduce((s, r) => s + r.points, 0)));
  // Largest absolute contribution first.
  for (let i = 1; i < good.reasons.length; i++) assert.ok(Math.abs(good.reasons[i - 1]!.points) >= Math.abs(good.reasons[i]!.points));
  const fresh = scoreOf(facts({ accountAgeDays: 5, agencyId: "", loansRepaidCount: 0, utilisationBps: null, settledTransactions90d: 0 }));
  assert.is(fresh.category, RiskCategory.MEDIUM);
  assert.ok(fresh.reasons.some((r) => r.code === RiskReasonCode.NO_REPAYMENT_HISTORY));
  assert.ok(fresh.reasons.some((r) => r.code === RiskReasonCode.ACCOUNT_NEW));
  const late = scoreOf(facts({ loansRepaidLateCount: 6, maxDaysPastDue: 40 }));
  assert.ok(late.score < good.score);
  assert.ok(late.reasons.some((r) => r.code === RiskReasonCode.DAYS_PAST_DUE));
  assert.is(scoreOf(facts({ kycVerified: false })).category, RiskCategory.INELIGIBLE);
  assert.is(scoreOf(facts({ hasDefaulted: true })).category, RiskCategory.INELIGIBLE);
  assert.ok(scoreOf(facts({ utilisationBps: 9500 })).reasons.some((r) => r.code === RiskReasonCode.HIGH_UTILISATION));
});

test("a first loan one day overdue never scores above no loan at all (found by the property below)", () => {
  const none = facts({ kycVerified: false, accountAgeDays: 0, loansRepaidCount: 0, loansRepaidLateCount: 0, maxDaysPastDue: 0, hasDefaulted: false, utilisationBps: null, settledTransactions90d: 0 });
  const overdue = scoreOf({ ...none, maxDaysPastDue: 1 });
  assert.ok(overdue.score < scoreOf(none).score, `${overdue.score} vs ${scoreOf(none).score}`);
  assert.ok(overdue.reasons.some((r) => r.code === RiskReasonCode.NO_REPAYMENT_HISTORY), "still no repaid loans");
  assert.ok(overdue.reasons.some((r) => r.code === RiskReasonCode.DAYS_PAST_DUE));
});

test("property: the score stays in 0–1000 and never improves with more days past due, a default, or unverified KYC", () => {
  const arb = fc.record({
    kycVerified: fc.boolean(), accountAgeDays: fc.integer({ min: 0, max: 5000 }), loansRepaidCount: fc.integer({ min: 0, max: 200 }),
    loansRepaidLateCount: fc.integer({ min: 0, max: 50 }), maxDaysPastDue: fc.integer({ min: 0, max: 400 }), hasDefaulted: fc.boolean(),
    utilisationBps: fc.option(fc.integer({ min: 0, max: 20000 })), settledTransactions90d: fc.integer({ min: 0, max: 500 }),
  });
  fc.assert(fc.property(arb, fc.integer({ min: 1, max: 100 }), (f, more) => {
    const base = facts({ ...f, loansRepaidLateCount: Math.min(f.loansRepaidLateCount, f.loansRepaidCount) });
    const s = scoreOf(base);
    const worse = scoreOf({ ...base, maxDaysPastDue: base.maxDaysPastDue + more });
    const defaulted = scoreOf({ ...base, hasDefaulted: true });
    const verified = scoreOf({ ...base, kycVerified: true });
    return s.score >= 0 && s.score <= 1000 && worse.score <= s.score && defaulted.score <= s.score && verified.score >= s.score;
  }), { numRuns: 5000 }); // microseconds each; at the default 100 runs a counterexample slipped past earlier CI runs
});

test("three levels: a hold fits the driver's line, the agency's and the program, and a decline names the level", () => {
  assert.equal(decideHold(ask(500n), line(1000n), line(1000n), line(400n)), { approved: false, amount: 0n, reason: DeclineReason.PROGRAM_CAP_EXCEEDED });
  assert.equal(decideHold(ask(500n), line(1000n), line(300n), line(400n)), { approved: false, amount: 0n, reason: DeclineReason.PARENT_INSUFFICIENT_CREDIT });
  assert.equal(decideHold(ask(500n), line(1000n), null, line(0n, { status: "CLOSED" })), { approved: false, amount: 0n, reason: DeclineReason.PROGRAM_INACTIVE });
  assert.equal(decideHold(ask(500n, { allowPartial: true, minAmount: 1n }), line(1000n), line(900n), line(400n)), { approved: true, amount: 400n, reason: DeclineReason.UNSPECIFIED });
  const s = spendable(line(1000n), line(900n), line(400n));
  assert.is(s.amount, 400n);
  assert.is(s.factor, LimitingFactor.PROGRAM);
  assert.is(spendable(line(1000n), null, line(5000n, { status: "CLOSED" })).factor, LimitingFactor.PROGRAM);
  fc.assert(fc.property(fc.bigInt({ min: -10n, max: 5000n }), fc.bigInt({ min: -10n, max: 5000n }), fc.bigInt({ min: -10n, max: 5000n }), fc.bigInt({ min: 1n, max: 6000n }),
    (own, parent, program, amount) => {
      const d = decideHold(ask(amount, { allowPartial: true, minAmount: 1n }), line(own), line(parent), line(program));
      const room = [own, parent, program].reduce((a, b) => (a < b ? a : b));
      if (d.approved) return d.amount <= room && d.amount === (amount < room ? amount : room);
      return room <= 0n;
    }));
});

test.run();
