// RunAging and the periodic aging job (the same code). As of the service clock, each open
// loan gets the status the aging rule gives it (ACTIVE → OVERDUE → DEFAULTED, and back when
// cured), each change is recorded for the statement, and the borrower's notices (reminder
// before due, overdue, default) are queued in the outbox in the same transaction.
// Loans are processed in batches under FOR UPDATE SKIP LOCKED, so concurrent runs split the
// work and each loan is processed once per run; a repeat at the same instant finds nothing
// to change and notifies nobody twice (the stored status and reminder mark are the memory).
// Only aging and repayments lock a loan row; a loan a repayment holds is aged by the next
// run, after the repayment, which may have cured it.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext } from "@connectrpc/connect";
import { SpanStatusCode } from "@opentelemetry/api";
import { AgingTransitionSchema, LoanStatus, RunAgingResponseSchema, type AgingTransition, type RunAgingRequest } from "../../gen/fuel/loan/v1/loan_pb.js";
import { withTx, type Pool, type Tx } from "../../platform/db.js";
import { log } from "../../platform/logger.js";
import type { LoanContext } from "./context.js";
import { tracer } from "../../platform/tracing.js";
import { decideAging } from "./aging-rule.js";
import { loanBalances, statusEnum, statusName } from "./convert.js";
import { totalOutstanding } from "./interest.js";
import { noticeFor } from "./notices.js";
import { enqueueNotice } from "./outbox.js";
import * as store from "./store.js";

const BATCH = 200;

export interface AgingResult {
  asOf: Date;
  examined: number;
  transitions: AgingTransition[];
  notificationsQueued: number;
}

async function batch(db: Pool | Tx, after: string, lock: boolean): Promise<store.LoanRow[]> {
  const res = await db.query<store.LoanRow>(
    `SELECT * FROM loan.loans WHERE status <> 'PAID_OFF' AND loan_id > $1 ORDER BY loan_id LIMIT $2${lock ? " FOR UPDATE SKIP LOCKED" : ""}`,
    [after, BATCH],
  );
  return res.rows;
}

export async function runAging(deps: LoanContext, dryRun: boolean): Promise<AgingResult> {
  const asOf = deps.now();
  const out: AgingResult = { asOf, examined: 0, transitions: [], notificationsQueued: 0 };
  let after = "00000000-0000-0000-0000-000000000000";
  for (;;) {
    const last = dryRun
      ? await processBatch(deps, deps.pool, after, asOf, true, out)
      : await withTx(deps.pool, (tx) => processBatch(deps, tx, after, asOf, false, out));
    if (!last) break;
    after = last;
  }
  if (out.notificationsQueued > 0) deps.relay.wake();
  return out;
}

/** Ages one batch; returns the last loan id seen, or null when there was none. */
async function processBatch(deps: LoanContext, db: Pool | Tx, after: string, asOf: Date, dryRun: boolean, out: AgingResult): Promise<string | null> {
  const loans = await batch(db, after, !dryRun);
  if (loans.length === 0) return null;
  const reps = await store.repaymentsOf(db, loans.map((l) => l.loan_id));
  for (const loan of loans) {
    out.examined++;
    const total = totalOutstanding(loanBalances(loan, reps.get(loan.loan_id)!, asOf));
    const current = statusEnum(loan.status);
    const d = decideAging({
      current, totalOutstanding: total, due: loan.due_time, asOf, defaultAfterDays: loan.default_after_days,
      reminderDaysBeforeDue: loan.reminder_days_before_due, reminderSent: loan.reminder_sent_time !== null,
    });
    if (d.to !== null) out.transitions.push(create(AgingTransitionSchema, { loanId: loan.loan_id, fromStatus: current, toStatus: d.to, daysPastDue: d.daysPastDue }));
    if (dryRun || (d.to === null && d.notices.length === 0)) continue;
    const tx = db as Tx;
    const to = d.to === null ? loan.status : statusName(d.to);
    await store.setLoanStatus(tx, loan.loan_id, {
      status: to, now: asOf,
      defaultTime: d.to === LoanStatus.DEFAULTED ? asOf : undefined,
      paidOffTime: d.to === LoanStatus.PAID_OFF ? asOf : undefined,
      reminderSentTime: d.notices.includes("DUE_REMINDER") ? asOf : undefined,
    });
    if (d.to !== null) {
      await store.insertStatusChange(tx, { loanId: loan.loan_id, from: loan.status, to, time: asOf, daysPastDue: d.daysPastDue, cause: "AGING" });
    }
    for (const n of d.notices) {
      await enqueueNotice(tx, loan.loan_id, noticeFor(n, loan, total));
      out.notificationsQueued++;
    }
  }
  return loans[loans.length - 1]!.loan_id;
}

export function runAgingRpc(deps: LoanContext) {
  return async (req: RunAgingRequest, _ctx: HandlerContext) => {
    const r = await runAging(deps, req.dryRun);
    return create(RunAgingResponseSchema, {
      asOfTime: timestampFromDate(r.asOf),
      loansExamined: r.examined,
      transitions: r.transitions,
      notificationsQueued: req.dryRun ? 0 : r.notificationsQueued,
    });
  };
}

/** The in-process scheduler: runs aging every `intervalMs` (0 = never); returns its stopper. */
export function startAgingJob(deps: LoanContext, intervalMs: number): () => Promise<void> {
  if (intervalMs <= 0) return async () => undefined;
  let inFlight: Promise<void> | null = null;
  const tick = () => {
    if (inFlight) return;
    inFlight = tracer().startActiveSpan("loan.aging", async (span) => {
      try {
        const r = await runAging(deps, false);
        if (r.transitions.length || r.notificationsQueued) log.info({ examined: r.examined, transitions: r.transitions.length, notices: r.notificationsQueued }, "loan aging run");
      } catch (err) {
        span.setStatus({ code: SpanStatusCode.ERROR });
        log.warn({ err }, "loan aging run failed");
      } finally {
        span.end();
        inFlight = null;
      }
    });
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref?.();
  return async () => {
    clearInterval(timer);
    await inFlight;
  };
}
