// Loan balances as a pure function of (loan, repayments, as-of instant).
//
// The contract's rule: at creation a fee is charged (fee_fixed + fee_bps of principal);
// for each full 24 hours since disbursement, round_half_even(principal_outstanding ×
// daily_interest_bps / 10 000) is accrued, also after the due date, until the loan is paid
// off. Repayments are allocated fees → interest → principal at the instant they were
// received. So the balances at any instant are a replay: walk the repayments in receive
// order, accruing whole days in between (a day's interest is accrued at its end, on the
// principal outstanding then; a repayment received exactly at a day boundary comes after
// that day's accrual). Between two events principal is constant, so n days accrue as
// n × one day's (rounded) interest — exactly what day-by-day accrual gives.
//
// The same replay produces the statement (the balance after every event), so the loan,
// its statement and the amount a repayment may take can never disagree.
import { allocate, type Allocation } from "./allocation.js";
import { DAY_MS } from "./due-date.js";
import { applyBps } from "../../platform/money.js";

export interface LoanTerms {
  principal: bigint;
  fee: bigint;
  dailyInterestBps: number;
  disburseTime: Date;
}

export interface RepaymentEvent {
  repaymentId: string;
  amount: bigint;
  receiveTime: Date;
}

/** A recorded status change, shown on statements with the balances at that instant. */
export interface StatusMark {
  time: Date;
  status: number;
}

export interface Balances {
  principalOutstanding: bigint;
  feeOutstanding: bigint;
  interestOutstanding: bigint;
  /** Interest accrued since disbursement (repaid or not). */
  interestAccrued: bigint;
  totalRepaid: bigint;
  /** Interest is accrued up to this instant (disbursement + whole days). */
  accruedThrough: Date;
}

export const totalOutstanding = (b: Pick<Balances, "principalOutstanding" | "feeOutstanding" | "interestOutstanding">) =>
  b.principalOutstanding + b.feeOutstanding + b.interestOutstanding;

export type LedgerEvent =
  | { kind: "DISBURSEMENT" | "FEE" | "INTEREST"; time: Date; amount: bigint; after: Balances }
  | { kind: "REPAYMENT"; time: Date; amount: bigint; repaymentId: string; allocation: Allocation; after: Balances }
  | { kind: "STATUS_CHANGE"; time: Date; amount: 0n; status: number; after: Balances };

export interface Replay {
  balances: Balances;
  events: LedgerEvent[];
  /** Allocation of each repayment replayed, by id. */
  allocations: Map<string, Allocation>;
}

/** One day's interest on `principalOutstanding`. */
export function dailyInterest(principalOutstanding: bigint, dailyInterestBps: number): bigint {
  return applyBps(principalOutstanding, dailyInterestBps);
}

/** The fee charged at creation: fee_fixed + fee_bps of principal. */
export function loanFee(principal: bigint, feeFixed: bigint, feeBps: number): bigint {
  return feeFixed + applyBps(principal, feeBps);
}

/**
 * Replays the loan up to `asOf`: repayments and marks after `asOf` are ignored. Repayments
 * are taken in the order given when their times are equal (callers pass them in recording
 * order).
 */
export function replayLoan(terms: LoanTerms, repayments: RepaymentEvent[], asOf: Date, marks: StatusMark[] = []): Replay {
  const start = terms.disburseTime.getTime();
  const end = Math.max(asOf.getTime(), start);
  const b = {
    principalOutstanding: terms.principal,
    feeOutstanding: 0n,
    interestOutstanding: 0n,
    interestAccrued: 0n,
    totalRepaid: 0n,
  };
  let daysAccrued = 0;
  const snapshot = (): Balances => ({ ...b, accruedThrough: new Date(start + daysAccrued * DAY_MS) });
  const events: LedgerEvent[] = [];
  const allocations = new Map<string, Allocation>();

  events.push({ kind: "DISBURSEMENT", time: terms.disburseTime, amount: terms.principal, after: snapshot() });
  if (terms.fee > 0n) {
    b.feeOutstanding = terms.fee;
    events.push({ kind: "FEE", time: terms.disburseTime, amount: terms.fee, after: snapshot() });
  }

  const accrueTo = (t: number) => {
    const days = Math.floor((Math.max(t, start) - start) / DAY_MS) - daysAccrued;
    if (days <= 0) return;
    const amount = dailyInterest(b.principalOutstanding, terms.dailyInterestBps) * BigInt(days);
    daysAccrued += days;
    if (amount > 0n) {
      b.interestOutstanding += amount;
      b.interestAccrued += amount;
      events.push({ kind: "INTEREST", time: new Date(start + daysAccrued * DAY_MS), amount, after: snapshot() });
    }
  };

  type Item = { t: number; order: number; rep?: RepaymentEvent; mark?: StatusMark };
  const items: Item[] = [];
  repayments.forEach((rep, i) => {
    const t = rep.receiveTime.getTime();
    if (t <= end) items.push({ t: Math.max(t, start), order: i, rep });
  });
  marks.forEach((mark, i) => {
    const t = mark.time.getTime();
    if (t <= end) items.push({ t: Math.max(t, start), order: repayments.length + i, mark });
  });
  // By time; at equal times repayments (in given order) before status changes.
  items.sort((x, y) => x.t - y.t || x.order - y.order);

  for (const it of items) {
    accrueTo(it.t);
    if (it.rep) {
      const a = allocate(it.rep.amount, { fee: b.feeOutstanding, interest: b.interestOutstanding, principal: b.principalOutstanding });
      b.feeOutstanding -= a.fee;
      b.interestOutstanding -= a.interest;
      b.principalOutstanding -= a.principal;
      b.totalRepaid += a.applied;
      allocations.set(it.rep.repaymentId, a);
      events.push({ kind: "REPAYMENT", time: new Date(it.t), amount: it.rep.amount, repaymentId: it.rep.repaymentId, allocation: a, after: snapshot() });
    } else if (it.mark) {
      events.push({ kind: "STATUS_CHANGE", time: new Date(it.t), amount: 0n, status: it.mark.status, after: snapshot() });
    }
  }
  accrueTo(end);
  return { balances: snapshot(), events, allocations };
}

/** Balances of a loan as of `asOf` (interest accrued to the last full day). */
export function balancesAt(terms: LoanTerms, repayments: RepaymentEvent[], asOf: Date): Balances {
  return replayLoan(terms, repayments, asOf).balances;
}
