// GetLoanStatement: the loan replayed up to the statement date — principal, fee, interest
// aggregated per period between events, every repayment with its allocation, status
// changes, the balances after each event — and what is due when.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext } from "@connectrpc/connect";
import {
  GetLoanStatementResponseSchema,
  LoanStatus,
  StatementEventKind,
  type GetLoanStatementRequest,
  StatementEventSchema,
  type StatementEvent,
} from "../../gen/fuel/loan/v1/loan_pb.js";
import { invalidArgument } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { canSee, loanNotFound, scopeOf } from "./access.js";
import { pastDue } from "./aging-rule.js";
import { timeIn } from "./common.js";
import { loanToProto, money, repaymentEvents, repaymentToProto, statusEnum, termsOf } from "./convert.js";
import { balancesAt, replayLoan, totalOutstanding, type LedgerEvent } from "./interest.js";
import * as store from "./store.js";

const KIND: Record<LedgerEvent["kind"], StatementEventKind> = {
  DISBURSEMENT: StatementEventKind.DISBURSEMENT,
  FEE: StatementEventKind.FEE,
  INTEREST: StatementEventKind.INTEREST,
  REPAYMENT: StatementEventKind.REPAYMENT,
  STATUS_CHANGE: StatementEventKind.STATUS_CHANGE,
};

export function getLoanStatement(deps: ServiceDeps) {
  return async (req: GetLoanStatementRequest, ctx: HandlerContext) => {
    const loanId = v.uuid("loan_id", req.loanId);
    const asOfIn = timeIn("as_of_time", req.asOfTime);
    const scope = scopeOf(ctx);
    const loan = await store.getLoan(deps.pool, loanId);
    if (!loan || !canSee(scope, loan)) throw loanNotFound();
    const now = deps.now();
    const asOf = asOfIn ?? now;
    if (asOf > now) throw invalidArgument("as_of_time", "must not be in the future");
    if (asOf < loan.disburse_time) throw invalidArgument("as_of_time", "must not be before the loan's disbursement");

    const allReps = (await store.repaymentsOf(deps.pool, [loanId])).get(loanId)!;
    const reps = allReps.filter((r) => r.receive_time <= asOf);
    const changes = (await store.statusChangesOf(deps.pool, loanId)).filter((c) => c.change_time <= asOf);
    const marks = changes.map((c) => ({ time: c.change_time, status: statusEnum(c.to_status) }));
    const replay = replayLoan(termsOf(loan), repaymentEvents(reps), asOf, marks);
    const status = changes.length ? statusEnum(changes[changes.length - 1]!.to_status) : LoanStatus.ACTIVE;
    const c = loan.currency;
    const b = replay.balances;
    const total = totalOutstanding(b);

    const events: StatementEvent[] = replay.events.map((e) =>
      create(StatementEventSchema, {
        eventTime: timestampFromDate(e.time),
        kind: KIND[e.kind],
        amount: money(e.amount, c),
        allocation: e.kind === "REPAYMENT" ? { fee: money(e.allocation.fee, c), interest: money(e.allocation.interest, c), principal: money(e.allocation.principal, c) } : undefined,
        repaymentId: e.kind === "REPAYMENT" ? e.repaymentId : "",
        status: e.kind === "STATUS_CHANGE" ? e.status : LoanStatus.UNSPECIFIED,
        principalBalance: money(e.after.principalOutstanding, c),
        feeBalance: money(e.after.feeOutstanding, c),
        interestBalance: money(e.after.interestOutstanding, c),
        totalBalance: money(totalOutstanding(e.after), c),
      }),
    );
    // Before due: everything, with interest projected to the due time and no further
    // repayments. Once past due: what is past due.
    const amountDue = asOf <= loan.due_time
      ? totalOutstanding(balancesAt(termsOf(loan), repaymentEvents(reps), loan.due_time))
      : pastDue(total, loan.due_time, asOf).amountPastDue;

    return create(GetLoanStatementResponseSchema, {
      loan: loanToProto(loan, reps, asOf, status, b),
      events,
      repayments: reps.map(repaymentToProto),
      totalFees: money(loan.fee, c),
      totalInterest: money(b.interestAccrued, c),
      totalRepaid: money(b.totalRepaid, c),
      amountDue: money(amountDue, c),
      dueTime: timestampFromDate(loan.due_time),
      asOfTime: timestampFromDate(asOf),
    });
  };
}
