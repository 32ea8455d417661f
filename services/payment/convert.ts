// Rows → protobuf messages, and the enum names stored in SQL.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { MoneySchema, type Money } from "../../gen/fuel/common/v1/common_pb.js";
import {
  AllocationStatus,
  PaymentAllocationSchema,
  PaymentMethod,
  PaymentSchema,
  PaymentStatus,
  ReconcileOutcome,
  ReviewReason,
  type Payment,
} from "../../gen/fuel/payment/v1/payment_pb.js";
import type { AllocationRow, MethodName, PaymentRow, ReviewReasonName } from "./store.js";
import type { PayStatus } from "./status-rule.js";

export const money = (amountMinor: bigint, currency: string): Money => create(MoneySchema, { amountMinor, currency });

export const STATUS: Record<PayStatus, PaymentStatus> = {
  PENDING: PaymentStatus.PENDING,
  SUCCEEDED: PaymentStatus.SUCCEEDED,
  FAILED: PaymentStatus.FAILED,
  EXPIRED: PaymentStatus.EXPIRED,
  NEEDS_REVIEW: PaymentStatus.NEEDS_REVIEW,
};

export function statusName(s: PaymentStatus): PayStatus | null {
  return (Object.entries(STATUS).find(([, v]) => v === s)?.[0] as PayStatus | undefined) ?? null;
}

export const METHOD: Record<MethodName, PaymentMethod> = {
  CARD: PaymentMethod.CARD,
  BANK_TRANSFER: PaymentMethod.BANK_TRANSFER,
  MOBILE_MONEY: PaymentMethod.MOBILE_MONEY,
  USSD: PaymentMethod.USSD,
};

export function methodName(m: PaymentMethod): MethodName | null {
  return (Object.entries(METHOD).find(([, v]) => v === m)?.[0] as MethodName | undefined) ?? null;
}

const REVIEW: Record<ReviewReasonName, ReviewReason> = {
  UNSPECIFIED: ReviewReason.UNSPECIFIED,
  AMOUNT_MISMATCH: ReviewReason.AMOUNT_MISMATCH,
  CURRENCY_MISMATCH: ReviewReason.CURRENCY_MISMATCH,
  OVERPAYMENT: ReviewReason.OVERPAYMENT,
};

const ALLOCATION: Record<AllocationRow["status"], AllocationStatus> = {
  PENDING: AllocationStatus.PENDING,
  APPLIED: AllocationStatus.APPLIED,
  PARTIALLY_APPLIED: AllocationStatus.PARTIALLY_APPLIED,
  NOT_APPLIED: AllocationStatus.NOT_APPLIED,
};

export const OUTCOME = {
  APPLIED: ReconcileOutcome.APPLIED,
  DUPLICATE: ReconcileOutcome.DUPLICATE,
  IGNORED_OUT_OF_ORDER: ReconcileOutcome.IGNORED_OUT_OF_ORDER,
  FLAGGED: ReconcileOutcome.FLAGGED,
  UNKNOWN_PAYMENT: ReconcileOutcome.UNKNOWN_PAYMENT,
  UNCHANGED: ReconcileOutcome.UNCHANGED,
} as const;
export type OutcomeName = keyof typeof OUTCOME;

/**
 * A payment as a caller sees it. `onlyBank` narrows the allocations to one bank's loans
 * (a bank sees the part of a payment that repays its own loans).
 */
export function paymentToProto(p: PaymentRow, allocations: AllocationRow[], onlyBank?: string): Payment {
  const shown = onlyBank ? allocations.filter((a) => a.loan_bank_id === onlyBank) : allocations;
  const receivedCurrency = p.received_currency ?? p.currency;
  return create(PaymentSchema, {
    paymentId: p.payment_id,
    payer: p.driver_id ? { case: "driverId", value: p.driver_id } : { case: "agencyId", value: p.agency_id ?? "" },
    initiatedBy: p.initiated_by,
    status: STATUS[p.status],
    amount: money(p.amount_minor, p.currency),
    allocations: shown.map((a) =>
      create(PaymentAllocationSchema, {
        loanId: a.loan_id,
        amount: money(a.amount_minor, a.currency),
        status: ALLOCATION[a.status],
        appliedAmount: money(a.applied_minor, a.currency),
        repaymentId: a.repayment_id ?? "",
      }),
    ),
    method: METHOD[p.method],
    gateway: p.gateway,
    gatewayPaymentId: p.gateway_payment_id ?? "",
    checkoutUrl: p.status === "PENDING" ? p.checkout_url : "",
    amountReceived: p.received_minor === null ? undefined : money(p.received_minor, receivedCurrency),
    reviewReason: p.status === "NEEDS_REVIEW" ? REVIEW[p.review_reason] : ReviewReason.UNSPECIFIED,
    unappliedAmount: money(p.unapplied_minor, receivedCurrency),
    failureCode: p.status === "FAILED" ? p.failure_code : "",
    failureMessage: p.status === "FAILED" ? p.failure_message : "",
    createTime: timestampFromDate(p.create_time),
    updateTime: timestampFromDate(p.update_time),
    succeedTime: p.succeed_time ? timestampFromDate(p.succeed_time) : undefined,
    expireTime: timestampFromDate(p.expire_time),
  });
}
