// Rows → protobuf messages. A loan's balances are never stored: they are computed from
// its terms and repayments as of an instant (interest.ts), so every read agrees with the
// statement.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  LoanProductSchema,
  LoanProductStatus,
  LoanSchema,
  LoanStatus,
  RepaymentSchema,
  RepaymentSource,
  type Loan,
  type LoanProduct,
  type Repayment,
} from "../../gen/fuel/loan/v1/loan_pb.js";
import { pastDue } from "./aging-rule.js";
import { balancesAt, totalOutstanding, type Balances, type LoanTerms, type RepaymentEvent } from "./interest.js";
import type { LoanRow, ProductRow, RepaymentRow, StatusName } from "./store.js";

export const money = (amountMinor: bigint, currency: string) => ({ amountMinor, currency });
const ts = (d: Date | null | undefined) => (d ? timestampFromDate(d) : undefined);

export const statusEnum = (s: StatusName): LoanStatus => LoanStatus[s];
export const statusName = (s: LoanStatus): StatusName => LoanStatus[s] as StatusName;

export function termsOf(l: LoanRow): LoanTerms {
  return { principal: l.principal, fee: l.fee, dailyInterestBps: l.daily_interest_bps, disburseTime: l.disburse_time };
}

export function repaymentEvents(reps: RepaymentRow[]): RepaymentEvent[] {
  return reps.map((r) => ({ repaymentId: r.repayment_id, amount: r.amount, receiveTime: r.receive_time }));
}

export function loanBalances(l: LoanRow, reps: RepaymentRow[], asOf: Date): Balances {
  return balancesAt(termsOf(l), repaymentEvents(reps), asOf);
}

/** The loan with balances as of `asOf` (status: the stored one unless given). */
export function loanToProto(l: LoanRow, reps: RepaymentRow[], asOf: Date, status: LoanStatus = statusEnum(l.status), balances?: Balances): Loan {
  const b = balances ?? loanBalances(l, reps, asOf);
  const total = totalOutstanding(b);
  const p = pastDue(total, l.due_time, asOf);
  const c = l.currency;
  return create(LoanSchema, {
    loanId: l.loan_id,
    transactionId: l.transaction_id,
    driverId: l.driver_id,
    agencyId: l.agency_id ?? "",
    bankId: l.bank_id,
    creditLineId: l.credit_line_id,
    loanProductId: l.product_id,
    currency: c,
    status,
    principal: money(l.principal, c),
    fee: money(l.fee, c),
    interestAccrued: money(b.interestAccrued, c),
    principalOutstanding: money(b.principalOutstanding, c),
    feeOutstanding: money(b.feeOutstanding, c),
    interestOutstanding: money(b.interestOutstanding, c),
    totalOutstanding: money(total, c),
    totalRepaid: money(b.totalRepaid, c),
    amountPastDue: money(p.amountPastDue, c),
    daysPastDue: p.daysPastDue,
    dailyInterestBps: l.daily_interest_bps,
    termDays: l.term_days,
    defaultAfterDaysPastDue: l.default_after_days,
    disburseTime: ts(l.disburse_time),
    dueTime: ts(l.due_time),
    interestAccruedThroughTime: ts(b.accruedThrough),
    paidOffTime: status === LoanStatus.PAID_OFF ? ts(l.paid_off_time) : undefined,
    defaultTime: ts(l.default_time && l.default_time <= asOf ? l.default_time : null),
    version: l.version,
    createTime: ts(l.create_time),
    updateTime: ts(l.update_time),
  });
}

export function repaymentToProto(r: RepaymentRow): Repayment {
  const c = r.currency;
  return create(RepaymentSchema, {
    repaymentId: r.repayment_id,
    loanId: r.loan_id,
    amount: money(r.amount, c),
    allocation: { fee: money(r.fee_part, c), interest: money(r.interest_part, c), principal: money(r.principal_part, c) },
    source: r.source === "PAYMENT" ? RepaymentSource.PAYMENT : RepaymentSource.BANK_RECORDED,
    paymentId: r.payment_id ?? "",
    externalReference: r.external_reference ?? "",
    receiveTime: ts(r.receive_time),
    createTime: ts(r.create_time),
    recordedBy: r.recorded_by,
    balanceAfter: money(r.balance_after, c),
    creditRestored: r.credit_restored,
  });
}

export function productToProto(p: ProductRow): LoanProduct {
  return create(LoanProductSchema, {
    loanProductId: p.product_id,
    bankId: p.bank_id,
    name: p.name,
    currency: p.currency,
    feeFixed: money(p.fee_fixed, p.currency),
    feeBps: p.fee_bps,
    dailyInterestBps: p.daily_interest_bps,
    termDays: p.term_days,
    defaultAfterDaysPastDue: p.default_after_days,
    reminderDaysBeforeDue: p.reminder_days_before_due,
    isDefault: p.is_default,
    status: p.status === "ACTIVE" ? LoanProductStatus.ACTIVE : LoanProductStatus.RETIRED,
    version: p.version,
    createTime: ts(p.create_time),
    updateTime: ts(p.update_time),
  });
}
