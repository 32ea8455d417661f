// The repayment outbox. A succeeded payment and its ApplyRepayment calls are written in
// the same transaction (apply-event.ts), so neither exists without the other. The relay
// claims due rows (FOR UPDATE SKIP LOCKED, a lease so a crashed relay's rows come back),
// calls LoanService.ApplyRepayment under the trace context stored with the row (the
// trace of the webhook that confirmed the money continues), with the row id as the
// idempotency key (LoanService also keeps one result per payment and loan), and retries
// with capped exponential backoff until it is done. Only an answer that cannot change
// on retry (the loan does not exist, the request is invalid) ends a row without
// applying it; that money is then flagged for review, never dropped silently.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { context, propagation, ROOT_CONTEXT } from "@opentelemetry/api";
import { MoneySchema } from "../../gen/fuel/common/v1/common_pb.js";
import { ApplyRepaymentRequestSchema, LoanService, type ApplyRepaymentResponse } from "../../gen/fuel/loan/v1/loan_pb.js";
import { many, one, withTx, type Pool } from "../../platform/db.js";
import { log } from "../../platform/logger.js";
import { backlogSql, countDelivery, watchOutbox } from "../../platform/outbox-metrics.js";
import { backoffMs, PollingLoop } from "../../platform/polling-loop.js";
import type { ServiceDeps } from "../../platform/service.js";
import { withService } from "../../platform/tracing.js";
import { allocationResult } from "./amount-rule.js";

interface OutboxRow {
  outbox_id: string;
  payment_id: string;
  loan_id: string;
  trace_carrier: Record<string, string>;
  attempts: number;
}

/** Answers that will not change by retrying the same request. */
const PERMANENT = new Set<Code>([Code.InvalidArgument, Code.NotFound, Code.FailedPrecondition, Code.OutOfRange, Code.AlreadyExists]);

export interface RelayOptions {
  pollMs: number;
  batchSize: number;
  /** How long a claimed row is reserved for this relay before another may take it. */
  leaseMs: number;
  baseBackoffMs: number;
  maxBackoffMs: number;
  /** After this many attempts failures are logged as errors (retries go on). */
  alertAfterAttempts: number;
}

export const DEFAULT_RELAY_OPTIONS: RelayOptions = {
  pollMs: 250,
  batchSize: 20,
  leaseMs: 30_000,
  baseBackoffMs: 500,
  maxBackoffMs: 5 * 60_000,
  alertAfterAttempts: 10,
};

export { backoffMs } from "../../platform/polling-loop.js";

export class OutboxRelay {
  readonly opts: RelayOptions;
  private readonly loop: PollingLoop;
  private unwatch: (() => void) | undefined;

  constructor(private readonly pool: Pool, private readonly deps: Pick<ServiceDeps, "mesh" | "now">, opts: Partial<RelayOptions> = {}) {
    this.opts = { ...DEFAULT_RELAY_OPTIONS, ...opts };
    this.loop = new PollingLoop("payment outbox relay", this.opts.pollMs, this.opts.batchSize, () => this.runOnce());
  }

  start(): void {
    this.loop.start();
    this.unwatch ??= watchOutbox("payment", this.pool, backlogSql("payment.outbox", "delivered_at IS NULL AND dead_at IS NULL"));
  }

  /** Called after a commit that queued repayments: deliver now rather than at the next poll. */
  wake(): void {
    this.loop.wake();
  }

  async stop(): Promise<void> {
    this.unwatch?.();
    this.unwatch = undefined;
    await this.loop.stop();
  }

  /** One pass: claim a batch of due rows and deliver them. Returns how many were claimed. */
  async runOnce(): Promise<number> {
    // Claimed in one short statement: no transaction stays open across the network call.
    const rows = await many<OutboxRow>(
      this.pool,
      `UPDATE payment.outbox SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $2::double precision / 1000)
        WHERE outbox_id IN (
          SELECT outbox_id FROM payment.outbox
           WHERE delivered_at IS NULL AND dead_at IS NULL AND next_attempt_at <= now()
           ORDER BY next_attempt_at, seq LIMIT $1
           FOR UPDATE SKIP LOCKED)
        RETURNING outbox_id, payment_id, loan_id, trace_carrier, attempts`,
      [this.opts.batchSize, this.opts.leaseMs],
    );
    await Promise.all(rows.map((r) => this.deliver(r)));
    return rows.length;
  }

  private async deliver(row: OutboxRow): Promise<void> {
    const alloc = await one<{ amount_minor: bigint; currency: string; succeed_time: Date | null }>(
      this.pool,
      `SELECT a.amount_minor, a.currency, p.succeed_time FROM payment.allocations a JOIN payment.payments p USING (payment_id)
        WHERE a.payment_id = $1 AND a.loan_id = $2`,
      [row.payment_id, row.loan_id],
    );
    if (!alloc) {
      await this.pool.query(`UPDATE payment.outbox SET dead_at = now(), last_error = 'allocation missing' WHERE outbox_id = $1`, [row.outbox_id]);
      countDelivery("payment", "dead");
      return;
    }
    const parent = withService(propagation.extract(ROOT_CONTEXT, row.trace_carrier ?? {}), "payment");
    let res: ApplyRepaymentResponse;
    try {
      res = await context.with(parent, () =>
        this.deps.mesh.client(LoanService).applyRepayment(
          create(ApplyRepaymentRequestSchema, {
            loanId: row.loan_id,
            amount: create(MoneySchema, { amountMinor: alloc.amount_minor, currency: alloc.currency }),
            paymentId: row.payment_id,
            receiveTime: timestampFromDate(alloc.succeed_time ?? this.deps.now()),
          }),
          { headers: { "idempotency-key": row.outbox_id }, timeoutMs: 10_000 },
        ),
      );
    } catch (err) {
      const ce = ConnectError.from(err);
      const error = `${Code[ce.code]}: ${ce.rawMessage}`.slice(0, 500);
      if (PERMANENT.has(ce.code)) {
        log.error({ outbox_id: row.outbox_id, payment_id: row.payment_id, loan_id: row.loan_id, code: Code[ce.code] }, "payment outbox: loan refused the repayment; flagged for review");
        await this.settle(row, alloc.amount_minor, { unapplied: alloc.amount_minor, repaymentId: null, error });
        return;
      }
      const delay = backoffMs(row.attempts, this.opts);
      const level = row.attempts >= this.opts.alertAfterAttempts ? "error" : "warn";
      log[level]({ outbox_id: row.outbox_id, code: Code[ce.code], attempts: row.attempts, retry_in_ms: delay }, "payment outbox: ApplyRepayment failed; will retry");
      countDelivery("payment", "retry");
      await this.pool.query(
        `UPDATE payment.outbox SET last_error = $2, next_attempt_at = now() + make_interval(secs => $3::double precision / 1000) WHERE outbox_id = $1`,
        [row.outbox_id, error, delay],
      );
      return;
    }
    await this.settle(row, alloc.amount_minor, { unapplied: res.unappliedAmount?.amountMinor ?? 0n, repaymentId: res.repayment?.repaymentId || null, error: null });
  }

  /** Records the result of one allocation; money that could not be applied is flagged. */
  private async settle(row: OutboxRow, amount: bigint, r: { unapplied: bigint; repaymentId: string | null; error: string | null }): Promise<void> {
    const { applied, status } = allocationResult(amount, r.unapplied);
    const rest = amount - applied;
    const finished = await withTx(this.pool, async (tx) => {
      // Lock order: payment, then its allocation and outbox row.
      await tx.query(`SELECT 1 FROM payment.payments WHERE payment_id = $1 FOR UPDATE`, [row.payment_id]);
      const done = await tx.query(
        `UPDATE payment.outbox SET delivered_at = CASE WHEN $2::text IS NULL THEN now() END, dead_at = CASE WHEN $2::text IS NOT NULL THEN now() END, last_error = $2
          WHERE outbox_id = $1 AND delivered_at IS NULL AND dead_at IS NULL RETURNING 1`,
        [row.outbox_id, r.error],
      );
      if (done.rowCount !== 1) return false; // another relay finished it first
      await tx.query(
        `UPDATE payment.allocations SET status = $3, applied_minor = $4, repayment_id = $5 WHERE payment_id = $1 AND loan_id = $2`,
        [row.payment_id, row.loan_id, status, applied, r.repaymentId],
      );
      if (rest > 0n) {
        await tx.query(
          `UPDATE payment.payments
              SET unapplied_minor = unapplied_minor + $2,
                  status = CASE WHEN status = 'SUCCEEDED' THEN 'NEEDS_REVIEW' ELSE status END,
                  review_reason = CASE WHEN status = 'SUCCEEDED' THEN 'OVERPAYMENT' ELSE review_reason END,
                  update_time = $3
            WHERE payment_id = $1`,
          [row.payment_id, rest, this.deps.now()],
        );
      } else {
        await tx.query(`UPDATE payment.payments SET update_time = $2 WHERE payment_id = $1`, [row.payment_id, this.deps.now()]);
      }
      return true;
    });
    if (finished) countDelivery("payment", r.error === null ? "delivered" : "dead");
  }
}
