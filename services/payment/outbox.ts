// The repayment outbox. A succeeded payment and its ApplyRepayment calls are written in
// the same transaction (apply-event.ts), so neither exists without the other;
// platform/outbox.ts delivers them. What a row means is here: LoanService.ApplyRepayment
// for one allocation, with the row id as the idempotency key (LoanService also keeps one
// result per payment and loan), retried until it is done. Only an answer that cannot
// change on retry (the loan does not exist, the request is invalid) ends a row without
// applying it; that money is then flagged for review, never dropped silently.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { MoneySchema } from "../../gen/fuel/common/v1/common_pb.js";
import { ApplyRepaymentRequestSchema, LoanService } from "../../gen/fuel/loan/v1/loan_pb.js";
import { one, type Pool, type Tx } from "../../platform/db.js";
import { connectFailure, Outbox, relayTable, type Effects, type OutboxOptions, type Result } from "../../platform/outbox.js";
import type { ServiceDeps } from "../../platform/service.js";
import { allocationResult } from "./amount-rule.js";

interface OutboxRow {
  outbox_id: string;
  payment_id: string;
  loan_id: string;
  attempts: number;
}

/** Answers that will not change by retrying the same request (auth errors are an operator's fix: retried). */
const PERMANENT = new Set<Code>([Code.InvalidArgument, Code.NotFound, Code.FailedPrecondition, Code.OutOfRange, Code.AlreadyExists]);

export const DEFAULT_RELAY_OPTIONS = {
  pollMs: 250,
  batchSize: 20,
  leaseMs: 30_000,
  /** Money is never given up on for attempts: it retries until the loan answers. */
  maxAttempts: Infinity,
  baseBackoffMs: 500,
  maxBackoffMs: 5 * 60_000,
  alertAfterAttempts: 10,
} satisfies Partial<OutboxOptions>;

export { backoffMs } from "../../platform/outbox.js";

export type OutboxRelay = Outbox<OutboxRow>;

export function paymentRelay(pool: Pool, deps: Pick<ServiceDeps, "mesh" | "now">, opts: Partial<OutboxOptions> = {}): OutboxRelay {
  return new Outbox<OutboxRow>({
    name: "payment",
    pool,
    table: relayTable("payment.outbox", ["payment_id", "loan_id", "trace_carrier"]),
    options: { ...DEFAULT_RELAY_OPTIONS, ...opts },
    permanentCodes: PERMANENT,
    logFields: (row) => ({ payment_id: row.payment_id, loan_id: row.loan_id }),
    deliver: async (row): Promise<Result> => {
      const alloc = await one<{ amount_minor: bigint; currency: string; succeed_time: Date | null }>(
        pool,
        `SELECT a.amount_minor, a.currency, p.succeed_time FROM payment.allocations a JOIN payment.payments p USING (payment_id)
          WHERE a.payment_id = $1 AND a.loan_id = $2`,
        [row.payment_id, row.loan_id],
      );
      if (!alloc) return { delivered: false, failure: { error: "allocation missing", permanent: true } };
      try {
        const res = await deps.mesh.client(LoanService).applyRepayment(
          create(ApplyRepaymentRequestSchema, {
            loanId: row.loan_id,
            amount: create(MoneySchema, { amountMinor: alloc.amount_minor, currency: alloc.currency }),
            paymentId: row.payment_id,
            receiveTime: timestampFromDate(alloc.succeed_time ?? deps.now()),
          }),
          { headers: { "idempotency-key": row.outbox_id }, timeoutMs: 10_000 },
        );
        const unapplied = res.unappliedAmount?.amountMinor ?? 0n;
        return { delivered: true, effects: settle(row, alloc.amount_minor, unapplied, res.repayment?.repaymentId || null, deps.now) };
      } catch (err) {
        const failure = connectFailure(err, PERMANENT);
        // A refusal ends the row (every row may be given up on, on a permanent answer): the whole amount stays unapplied.
        return { delivered: false, failure, effects: failure.permanent ? settle(row, alloc.amount_minor, alloc.amount_minor, null, deps.now) : undefined };
      }
    },
  });
}

/** Records the result of one allocation, with the row's outcome; money that could not be applied is flagged. */
function settle(row: OutboxRow, amount: bigint, unapplied: bigint, repaymentId: string | null, now: () => Date): Effects {
  return async (tx: Tx) => {
    const { applied, status } = allocationResult(amount, unapplied);
    const rest = amount - applied;
    // Lock order: payment, then its allocation, then (the outbox marks it) the outbox row.
    await tx.query(`SELECT 1 FROM payment.payments WHERE payment_id = $1 FOR UPDATE`, [row.payment_id]);
    await tx.query(
      `UPDATE payment.allocations SET status = $3, applied_minor = $4, repayment_id = $5 WHERE payment_id = $1 AND loan_id = $2`,
      [row.payment_id, row.loan_id, status, applied, repaymentId],
    );
    if (rest > 0n) {
      await tx.query(
        `UPDATE payment.payments
            SET unapplied_minor = unapplied_minor + $2,
                status = CASE WHEN status = 'SUCCEEDED' THEN 'NEEDS_REVIEW' ELSE status END,
                review_reason = CASE WHEN status = 'SUCCEEDED' THEN 'OVERPAYMENT' ELSE review_reason END,
                update_time = $3
          WHERE payment_id = $1`,
        [row.payment_id, rest, now()],
      );
    } else {
      await tx.query(`UPDATE payment.payments SET update_time = $2 WHERE payment_id = $1`, [row.payment_id, now()]);
    }
  };
}
