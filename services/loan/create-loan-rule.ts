// CreateLoanFromSettlement's decisions, free of I/O: the settlement as validated, what
// identifies it (so a retry is told from a conflicting request), whether a product may
// lend it, and the loan it makes. The loan is built whole here — the row as it will be
// stored — so the answer and the borrower's notice can be built from it before anything
// is sent, and written with it in one statement.
import { createHash } from "node:crypto";
import type { CreateLoanFromSettlementRequest } from "../../gen/fuel/loan/v1/loan_pb.js";
import { invalidArgument } from "../../platform/errors.js";
import * as v from "../../platform/validate.js";
import { moneyIn, timeIn } from "./common.js";
import { dueTime } from "./due-date.js";
import { loanFee } from "./interest.js";
import type { LoanRow, ProductRow } from "./store.js";

/** Settlement times may run ahead of our clock by at most this much (clock skew). */
export const MAX_SKEW_MS = 5 * 60_000;

export interface Settlement {
  transactionId: string;
  driverId: string;
  agencyId: string | null;
  bankId: string;
  creditLineId: string;
  principalMinor: bigint;
  currency: string;
  /** When the sale settled; null → the loan is disbursed when it is created. */
  settleTime: Date | null;
  /** The product named by the request; null → the bank's default product in the currency. */
  productId: string | null;
}

/** The request, validated (INVALID_ARGUMENT naming the field otherwise). */
export function settlementOf(req: CreateLoanFromSettlementRequest, now: Date): Settlement {
  const transactionId = v.uuid("transaction_id", req.transactionId);
  const driverId = v.uuid("driver_id", req.driverId);
  const agencyId = v.optionalUuid("agency_id", req.agencyId);
  const bankId = v.uuid("bank_id", req.bankId);
  const creditLineId = v.uuid("credit_line_id", req.creditLineId);
  const principal = moneyIn("principal", req.principal, 1n);
  const productId = v.optionalUuid("loan_product_id", req.loanProductId);
  const settleTime = timeIn("settle_time", req.settleTime);
  if (settleTime && settleTime.getTime() > now.getTime() + MAX_SKEW_MS) throw invalidArgument("settle_time", "must not be in the future");
  return { transactionId, driverId, agencyId, bankId, creditLineId, principalMinor: principal.amount, currency: principal.currency, settleTime, productId };
}

/**
 * What identifies the request: its values as given, so a retry hashes the same. Stored on
 * the loan (settlement_hash); loans already written carry it, so it must never change.
 */
export function settlementHash(s: Settlement): string {
  return createHash("sha256")
    .update(JSON.stringify([s.transactionId, s.driverId, s.agencyId, s.bankId, s.creditLineId, s.principalMinor.toString(), s.currency,
      s.settleTime?.toISOString() ?? "", s.productId ?? ""]))
    .digest("base64url");
}

/** Whether `p` may lend the settlement: the product it names (or the bank's default), the bank's, active, in its currency. */
export function productLends(p: ProductRow | undefined, s: Settlement): p is ProductRow {
  if (!p) return false;
  const named = s.productId ? p.product_id === s.productId : p.is_default;
  return named && p.bank_id === s.bankId && p.status === "ACTIVE" && p.currency === s.currency;
}

/** The loan the settlement makes under `product`, as its row will be stored: terms copied, fee charged, due after the term. */
export function loanOf(s: Settlement, product: ProductRow, ids: { loanId: string; settlementHash: string }, now: Date): LoanRow {
  const disburse = s.settleTime ?? now;
  return {
    loan_id: ids.loanId,
    transaction_id: s.transactionId,
    settlement_hash: ids.settlementHash,
    driver_id: s.driverId,
    agency_id: s.agencyId,
    bank_id: s.bankId,
    credit_line_id: s.creditLineId,
    product_id: product.product_id,
    currency: s.currency,
    principal: s.principalMinor,
    fee: loanFee(s.principalMinor, product.fee_fixed, product.fee_bps),
    daily_interest_bps: product.daily_interest_bps,
    term_days: product.term_days,
    default_after_days: product.default_after_days,
    reminder_days_before_due: product.reminder_days_before_due,
    disburse_time: disburse,
    due_time: dueTime(disburse, product.term_days),
    status: "ACTIVE",
    paid_off_time: null,
    default_time: null,
    reminder_sent_time: null,
    borrower_user_id: null,
    version: 1n,
    create_time: now,
    update_time: now,
  };
}
