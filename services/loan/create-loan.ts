// CreateLoanFromSettlement (internal; TransactionService on settle). One loan per settled
// transaction: the unique transaction_id is the final guard, so a retry — same or another
// idempotency key, even after Redis lost the key — returns the loan created first, and a
// different request for the same transaction is ALREADY_EXISTS. Terms are copied from the
// named product or the bank's default product for the currency.
import { createHash, randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { CreateLoanFromSettlementResponseSchema, type CreateLoanFromSettlementRequest } from "../../gen/fuel/loan/v1/loan_pb.js";
import type { Pool, Tx } from "../../platform/db.js";
import { alreadyExists, failedPrecondition, invalidArgument } from "../../platform/errors.js";
import type { LoanContext } from "./context.js";
import * as v from "../../platform/validate.js";
import { guardedTx, moneyIn, timeIn } from "./common.js";
import { loanToProto } from "./convert.js";
import { dueTime } from "./due-date.js";
import { loanFee } from "./interest.js";
import { noticeFor } from "./notices.js";
import { enqueueNotice } from "./outbox.js";
import * as store from "./store.js";

/** Settlement times may run ahead of our clock by at most this much (clock skew). */
const MAX_SKEW_MS = 5 * 60_000;

export function createLoanFromSettlement(deps: LoanContext) {
  return async (req: CreateLoanFromSettlementRequest, ctx: HandlerContext) => {
    const transactionId = v.uuid("transaction_id", req.transactionId);
    const driverId = v.uuid("driver_id", req.driverId);
    const agencyId = v.optionalUuid("agency_id", req.agencyId);
    const bankId = v.uuid("bank_id", req.bankId);
    const creditLineId = v.uuid("credit_line_id", req.creditLineId);
    const principal = moneyIn("principal", req.principal, 1n);
    const productId = v.optionalUuid("loan_product_id", req.loanProductId);
    const settleTime = timeIn("settle_time", req.settleTime);
    const now = deps.now();
    if (settleTime && settleTime.getTime() > now.getTime() + MAX_SKEW_MS) throw invalidArgument("settle_time", "must not be in the future");
    // What identifies the request (the raw values, so a retry hashes the same).
    const hash = createHash("sha256")
      .update(JSON.stringify([transactionId, driverId, agencyId, bankId, creditLineId, principal.amount.toString(), principal.currency,
        settleTime?.toISOString() ?? "", productId ?? ""]))
      .digest("base64url");

    // `db` is the handle the row was read with: inside a transaction, never another
    // connection (the embedded database serves connections one transaction at a time).
    const existing = async (db: Pool | Tx, row: store.LoanRow | undefined) => {
      if (!row) return null;
      if (row.settlement_hash !== hash) {
        throw alreadyExists("LOAN_EXISTS_FOR_TRANSACTION", `transaction ${transactionId} already has a loan with other terms`);
      }
      const reps = (await store.repaymentsOf(db, [row.loan_id])).get(row.loan_id)!;
      return create(CreateLoanFromSettlementResponseSchema, { loan: loanToProto(row, reps, deps.now()) });
    };

    // No read first: the insert's ON CONFLICT (transaction_id) finds the loan a retry under
    // another key asks for again.
    const out = await guardedTx(deps, ctx, CreateLoanFromSettlementResponseSchema, async (tx) => {
      const product = productId ? await store.getProduct(tx, productId) : await store.defaultProduct(tx, bankId, principal.currency);
      if (!product || product.bank_id !== bankId || product.status !== "ACTIVE" || product.currency !== principal.currency) {
        // The loan made before the product went away is still the answer.
        const made = await existing(tx, await store.loanByTransaction(tx, transactionId));
        if (made) return made;
        throw failedPrecondition(
          "LOAN_PRODUCT_NOT_FOUND",
          productId ? "the loan product is not an active product of this bank in this currency" : `the bank has no active default loan product in ${principal.currency}`,
        );
      }
      const disburse = settleTime ?? now;
      const row = await store.insertLoan(tx, {
        loan_id: randomUUID(),
        transaction_id: transactionId,
        settlement_hash: hash,
        driver_id: driverId,
        agency_id: agencyId,
        bank_id: bankId,
        credit_line_id: creditLineId,
        product_id: product.product_id,
        currency: principal.currency,
        principal: principal.amount,
        fee: loanFee(principal.amount, product.fee_fixed, product.fee_bps),
        daily_interest_bps: product.daily_interest_bps,
        term_days: product.term_days,
        default_after_days: product.default_after_days,
        reminder_days_before_due: product.reminder_days_before_due,
        disburse_time: disburse,
        due_time: dueTime(disburse, product.term_days),
        status: "ACTIVE",
        create_time: now,
      });
      if (!row) {
        // A concurrent request for the same transaction committed first (we waited on it).
        const raced = await existing(tx, await store.loanByTransaction(tx, transactionId));
        if (raced) return raced;
        throw new Error("loan insert conflicted but no loan found");
      }
      // The borrower's notice of the terms commits with the loan, or neither does.
      await enqueueNotice(tx, row.loan_id, noticeFor("OPENED", row, row.principal + row.fee));
      return create(CreateLoanFromSettlementResponseSchema, { loan: loanToProto(row, [], now) });
    });
    deps.relay.wake();
    return out;
  };
}
