// RepayLoan (bank-recorded) and ApplyRepayment (internal, from PaymentService). Both record
// a repayment under the loan's row lock, allocated fees → interest → principal at the
// instant the money was received, in one transaction with: the Postgres idempotency guard,
// the outbox row that restores the principal part on the credit line, and PAID_OFF at zero.
// RepayLoan refuses what it cannot apply; ApplyRepayment never refuses collected money: it
// applies up to what is outstanding and returns the rest as unapplied.
//
// Repayments are replayed in receive order, so a repayment may not be received before the
// loan's latest recorded one (RepayLoan: INVALID_ARGUMENT; ApplyRepayment: its time is
// moved to that instant): allocations already recorded — and credit already restored —
// never change.
import { randomUUID } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import {
  ApplyRepaymentResponseSchema,
  RepayLoanResponseSchema,
  type ApplyRepaymentRequest,
  type RepayLoanRequest,
} from "../../gen/fuel/loan/v1/loan_pb.js";
import { sqlState, UNIQUE_VIOLATION, type Tx } from "../../platform/db.js";
import { alreadyExists, failedPrecondition, invalidArgument } from "../../platform/errors.js";
import type { LoanContext } from "./context.js";
import * as v from "../../platform/validate.js";
import { actorOf, canSee, loanNotFound, scopeOf, type Scope } from "./access.js";
import { allocate } from "./allocation.js";
import { guardedTx, moneyIn, timeIn } from "./common.js";
import { loanBalances, loanToProto, money, repaymentToProto } from "./convert.js";
import { totalOutstanding } from "./interest.js";
import { noticeFor } from "./notices.js";
import { enqueueNotice, enqueueRestore } from "./outbox.js";
import * as store from "./store.js";

interface RecordInput {
  loanId: string;
  amount: bigint;
  currency: string;
  receiveTime: Date | null;
  scope: Scope;
  actor: string;
  source: { kind: "BANK_RECORDED"; externalReference: string } | { kind: "PAYMENT"; paymentId: string };
  /** ApplyRepayment: apply what fits, clamp the time; RepayLoan: refuse instead. */
  lenient: boolean;
}

interface Recorded {
  loan: store.LoanRow;
  repayments: store.RepaymentRow[];
  repayment: store.RepaymentRow | null;
  unapplied: bigint;
}

async function record(deps: LoanContext, tx: Tx, i: RecordInput, lockedLoan?: store.LoanRow): Promise<Recorded> {
  const loan = lockedLoan ?? (await store.getLoan(tx, i.loanId, "FOR UPDATE"));
  if (!loan || !canSee(i.scope, loan)) throw loanNotFound();
  if (i.currency !== loan.currency) throw invalidArgument("amount.currency", `must be the loan's currency ${loan.currency}`);
  const reps = (await store.repaymentsOf(tx, [loan.loan_id])).get(loan.loan_id)!;
  const now = deps.now();
  const last = reps[reps.length - 1]?.receive_time;
  const floor = last && last > loan.disburse_time ? last : loan.disburse_time;
  let at = i.receiveTime ?? now;
  if (i.lenient) {
    if (at > now) at = now;
    if (at < floor) at = floor;
  } else {
    if (at > now) throw invalidArgument("receive_time", "must not be in the future");
    if (at < loan.disburse_time) throw invalidArgument("receive_time", "must not be before the loan's disbursement");
    if (last && at < last) throw invalidArgument("receive_time", `must not be before the loan's latest repayment (${last.toISOString()})`);
  }
  if (loan.status === "PAID_OFF") {
    if (i.lenient) return { loan, repayments: reps, repayment: null, unapplied: i.amount };
    throw failedPrecondition("LOAN_PAID_OFF", "the loan is already paid off");
  }
  const b = loanBalances(loan, reps, at);
  const total = totalOutstanding(b);
  if (!i.lenient && i.amount > total) {
    throw failedPrecondition("REPAYMENT_EXCEEDS_OUTSTANDING", `the repayment exceeds what is outstanding (${total})`, { outstanding_minor: total.toString() });
  }
  const a = allocate(i.amount, { fee: b.feeOutstanding, interest: b.interestOutstanding, principal: b.principalOutstanding });
  if (a.applied === 0n) return { loan, repayments: reps, repayment: null, unapplied: i.amount };
  if (i.source.kind === "BANK_RECORDED" && (await store.externalReferenceUsed(tx, loan.bank_id, i.source.externalReference))) {
    throw duplicateReference();
  }
  const balanceAfter = total - a.applied;
  const repayment = await store.insertRepayment(tx, {
    repayment_id: randomUUID(),
    loan_id: loan.loan_id,
    bank_id: loan.bank_id,
    currency: loan.currency,
    amount: a.applied,
    fee_part: a.fee,
    interest_part: a.interest,
    principal_part: a.principal,
    balance_after: balanceAfter,
    source: i.source.kind,
    payment_id: i.source.kind === "PAYMENT" ? i.source.paymentId : null,
    external_reference: i.source.kind === "BANK_RECORDED" ? i.source.externalReference : null,
    receive_time: at,
    create_time: now,
    recorded_by: i.actor,
  });
  if (a.principal > 0n) {
    await enqueueRestore(tx, {
      creditLineId: loan.credit_line_id, amountMinor: a.principal.toString(), currency: loan.currency,
      loanId: loan.loan_id, repaymentId: repayment.repayment_id,
    });
  }
  let updated: store.LoanRow;
  if (balanceAfter === 0n) {
    updated = await store.setLoanStatus(tx, loan.loan_id, { status: "PAID_OFF", now, paidOffTime: at });
    // The status history stays in order: a back-dated payoff is recorded after the last
    // change (e.g. an OVERDUE the aging job set before the money was known).
    const lastChange = await store.lastStatusChangeTime(tx, loan.loan_id);
    const changeTime = lastChange && lastChange > at ? lastChange : at;
    await store.insertStatusChange(tx, { loanId: loan.loan_id, from: loan.status, to: "PAID_OFF", time: changeTime, daysPastDue: 0, cause: "REPAYMENT" });
    await enqueueNotice(tx, loan.loan_id, noticeFor("PAID_OFF", loan, 0n));
  } else {
    updated = await store.setLoanStatus(tx, loan.loan_id, { status: loan.status, now });
  }
  return { loan: updated, repayments: [...reps, repayment], repayment, unapplied: i.amount - a.applied };
}

const duplicateReference = () =>
  alreadyExists("DUPLICATE_EXTERNAL_REFERENCE", "this bank already recorded a repayment with this external_reference");

export function repayLoan(deps: LoanContext) {
  return async (req: RepayLoanRequest, ctx: HandlerContext) => {
    const loanId = v.uuid("loan_id", req.loanId);
    const amount = moneyIn("amount", req.amount, 1n);
    const externalReference = v.text("external_reference", req.externalReference, 1, 128);
    const receiveTime = timeIn("receive_time", req.receiveTime);
    const scope = scopeOf(ctx);
    let res;
    try {
      res = await guardedTx(deps, ctx, RepayLoanResponseSchema, async (tx) => {
        const r = await record(deps, tx, {
          loanId, amount: amount.amount, currency: amount.currency, receiveTime, scope, actor: actorOf(ctx),
          source: { kind: "BANK_RECORDED", externalReference }, lenient: false,
        });
        return create(RepayLoanResponseSchema, {
          repayment: repaymentToProto(r.repayment!),
          loan: loanToProto(r.loan, r.repayments, deps.now()),
        });
      });
    } catch (err) {
      if (sqlState(err) === UNIQUE_VIOLATION) throw duplicateReference();
      throw err;
    }
    deps.relay.wake();
    return res;
  };
}

export function applyRepayment(deps: LoanContext) {
  return async (req: ApplyRepaymentRequest, ctx: HandlerContext) => {
    const loanId = v.uuid("loan_id", req.loanId);
    const amount = moneyIn("amount", req.amount, 1n);
    const paymentId = v.uuid("payment_id", req.paymentId);
    const receiveTime = timeIn("receive_time", req.receiveTime);
    const scope = scopeOf(ctx);
    const res = await guardedTx(deps, ctx, ApplyRepaymentResponseSchema, async (tx) => {
      const loan = await store.getLoan(tx, loanId, "FOR UPDATE");
      if (!loan || !canSee(scope, loan)) throw loanNotFound();
      // One result per (payment, loan): checked under the loan's lock, so two deliveries
      // of one payment with different keys still apply once.
      const first = await store.paymentApplication(tx, paymentId, loanId);
      if (first) return fromBinary(ApplyRepaymentResponseSchema, first);
      const r = await record(deps, tx, {
        loanId, amount: amount.amount, currency: amount.currency, receiveTime, scope, actor: actorOf(ctx),
        source: { kind: "PAYMENT", paymentId }, lenient: true,
      }, loan);
      const out = create(ApplyRepaymentResponseSchema, {
        repayment: r.repayment ? repaymentToProto(r.repayment) : undefined,
        loan: loanToProto(r.loan, r.repayments, deps.now()),
        unappliedAmount: money(r.unapplied, loan.currency),
      });
      await store.insertPaymentApplication(tx, paymentId, loanId, toBinary(ApplyRepaymentResponseSchema, out));
      return out;
    });
    deps.relay.wake();
    return res;
  };
}
