// The loan outbox. Work owed to other services is written in the same transaction as the
// decision that owes it, so neither exists without the other:
//   RESTORE_CREDIT  a repayment's principal part goes back to the credit line
//                   (CreditService.RestoreCredit, idempotency key = repayment id). Retried
//                   with capped exponential backoff until it succeeds — never given up,
//                   because giving up would leave the driver's line short for good.
//   NOTIFY          an in-app notice to the borrower (NotificationService.SendInApp,
//                   idempotency key = outbox id); the borrower's user id is resolved once
//                   through KycService.GetDriver and kept on the loan. Given up after
//                   maxAttempts or on an error that retrying cannot fix. A loan's
//                   notices are delivered one at a time, in the order they were decided.
// The relay claims due rows (FOR UPDATE SKIP LOCKED, bounded batch, a lease so a crashed
// relay's rows come back), runs each call under the trace context stored with the row, and
// is woken in-process after a commit that wrote rows (else it polls).
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { context, propagation, ROOT_CONTEXT } from "@opentelemetry/api";
import { CreditService, RestoreCreditRequestSchema } from "../../gen/fuel/credit/v1/credit_pb.js";
import { KycService } from "../../gen/fuel/kyc/v1/kyc_pb.js";
import { NotificationService, SendInAppRequestSchema } from "../../gen/fuel/notification/v1/notification_pb.js";
import { many, one, withTx, type Pool, type Tx } from "../../platform/db.js";
import { log } from "../../platform/logger.js";
import { backlogSql, countDelivery, watchOutbox } from "../../platform/outbox-metrics.js";
import { backoffMs, PollingLoop } from "../../platform/polling-loop.js";
import type { Mesh } from "../../platform/mesh.js";
import { withService } from "../../platform/tracing.js";

export interface RestorePayload {
  creditLineId: string;
  amountMinor: string;
  currency: string;
  loanId: string;
  repaymentId: string;
}

export interface NotifyPayload {
  driverId: string;
  title: string;
  body: string;
  kind: string;
}

function traceCarrier(): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier;
}

export async function enqueueRestore(tx: Tx, p: RestorePayload): Promise<void> {
  await tx.query(
    `INSERT INTO loan.outbox (outbox_id, kind, loan_id, repayment_id, payload, trace_carrier) VALUES ($1, 'RESTORE_CREDIT', $2, $3, $4, $5)`,
    [randomUUID(), p.loanId, p.repaymentId, JSON.stringify(p), JSON.stringify(traceCarrier())],
  );
}

export async function enqueueNotice(tx: Tx, loanId: string, p: NotifyPayload): Promise<void> {
  await tx.query(
    `INSERT INTO loan.outbox (outbox_id, kind, loan_id, payload, trace_carrier) VALUES ($1, 'NOTIFY', $2, $3, $4)`,
    [randomUUID(), loanId, JSON.stringify(p), JSON.stringify(traceCarrier())],
  );
}

interface OutboxRow {
  outbox_id: string;
  kind: "RESTORE_CREDIT" | "NOTIFY";
  loan_id: string;
  payload: RestorePayload | NotifyPayload;
  trace_carrier: Record<string, string>;
  attempts: number;
}

/** Codes that will not get better by retrying the same request. */
const PERMANENT = new Set<Code>([
  Code.InvalidArgument,
  Code.NotFound,
  Code.AlreadyExists,
  Code.PermissionDenied,
  Code.Unauthenticated,
  Code.FailedPrecondition,
  Code.OutOfRange,
]);

export interface RelayOptions {
  pollMs: number;
  batchSize: number;
  /** How long a claimed row is reserved for this relay before another may take it. */
  leaseMs: number;
  /** NOTIFY rows only: give up after this many attempts. */
  maxNotifyAttempts: number;
  baseBackoffMs: number;
  maxBackoffMs: number;
}

export const DEFAULT_RELAY_OPTIONS: RelayOptions = {
  pollMs: 200,
  batchSize: 20,
  leaseMs: 30_000,
  maxNotifyAttempts: 20,
  baseBackoffMs: 250,
  maxBackoffMs: 5 * 60_000,
};

export { backoffMs } from "../../platform/polling-loop.js";

export class LoanOutboxRelay {
  readonly opts: RelayOptions;
  private readonly loop: PollingLoop;
  private unwatch: (() => void) | undefined;

  constructor(private readonly pool: Pool, private readonly mesh: Pick<Mesh, "client">, opts: Partial<RelayOptions> = {}) {
    this.opts = { ...DEFAULT_RELAY_OPTIONS, ...opts };
    this.loop = new PollingLoop("loan outbox relay", this.opts.pollMs, this.opts.batchSize, () => this.runOnce());
  }

  start(): void {
    this.loop.start();
    this.unwatch ??= watchOutbox("loan", this.pool, backlogSql("loan.outbox", "delivered_at IS NULL AND dead_at IS NULL"));
  }

  /** Called after a commit that wrote outbox rows: deliver now rather than at the next poll. */
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
    // Claim in one statement (its own short transaction): no transaction stays open
    // across the network call; the lease (next_attempt_at) keeps other relays off the rows.
    // A loan's notices go out one at a time in the order they were decided: a NOTIFY row
    // is claimable only when no earlier notice of its loan is still pending (in flight,
    // or waiting out a backoff). Otherwise "repaid" could reach the driver before the
    // "in default" that preceded it. The rule reads only committed rows, so it holds
    // across replicas too; a notice given up on (dead) no longer holds the next back.
    const rows = await many<OutboxRow>(
      this.pool,
      `UPDATE loan.outbox SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $2::double precision / 1000)
       WHERE outbox_id IN (
         SELECT o.outbox_id FROM loan.outbox o
         WHERE o.delivered_at IS NULL AND o.dead_at IS NULL AND o.next_attempt_at <= now()
           AND NOT (o.kind = 'NOTIFY' AND EXISTS (
             SELECT 1 FROM loan.outbox e
             WHERE e.kind = 'NOTIFY' AND e.loan_id = o.loan_id AND e.seq < o.seq
               AND e.delivered_at IS NULL AND e.dead_at IS NULL))
         ORDER BY o.next_attempt_at, o.seq LIMIT $1
         FOR UPDATE SKIP LOCKED)
       RETURNING outbox_id, kind, loan_id, payload, trace_carrier, attempts`,
      [this.opts.batchSize, this.opts.leaseMs],
    );
    await Promise.all(rows.map((r) => this.deliver(r)));
    return rows.length;
  }

  private async deliver(row: OutboxRow): Promise<void> {
    const parent = withService(propagation.extract(ROOT_CONTEXT, row.trace_carrier ?? {}), "loan");
    try {
      await context.with(parent, () => (row.kind === "RESTORE_CREDIT" ? this.restore(row) : this.notify(row)));
      countDelivery("loan", "delivered");
    } catch (err) {
      const ce = ConnectError.from(err);
      const error = `${Code[ce.code]}: ${ce.rawMessage}`.slice(0, 500);
      const permanent = PERMANENT.has(ce.code);
      if (row.kind === "NOTIFY" && (permanent || row.attempts >= this.opts.maxNotifyAttempts)) {
        log.error({ outbox_id: row.outbox_id, code: Code[ce.code], attempts: row.attempts }, "loan outbox: giving up on a borrower notice");
        await this.pool.query(`UPDATE loan.outbox SET dead_at = now(), last_error = $2 WHERE outbox_id = $1`, [row.outbox_id, error]);
        countDelivery("loan", "dead");
        return;
      }
      const delay = backoffMs(row.attempts, this.opts);
      const level = permanent ? "error" : "warn";
      log[level]({ outbox_id: row.outbox_id, kind: row.kind, code: Code[ce.code], attempts: row.attempts, retry_in_ms: delay }, "loan outbox: delivery failed; will retry");
      countDelivery("loan", "retry");
      await this.pool.query(
        `UPDATE loan.outbox SET last_error = $2, next_attempt_at = now() + make_interval(secs => $3::double precision / 1000) WHERE outbox_id = $1`,
        [row.outbox_id, error, delay],
      );
    }
  }

  private async restore(row: OutboxRow): Promise<void> {
    const p = row.payload as RestorePayload;
    const res = await this.mesh.client(CreditService).restoreCredit(
      create(RestoreCreditRequestSchema, {
        creditLineId: p.creditLineId,
        amount: { amountMinor: BigInt(p.amountMinor), currency: p.currency },
        loanId: p.loanId,
        repaymentId: p.repaymentId,
      }),
      { headers: { "idempotency-key": p.repaymentId }, timeoutMs: 10_000 },
    );
    await withTx(this.pool, async (tx) => {
      await tx.query(`UPDATE loan.outbox SET delivered_at = now(), last_error = NULL WHERE outbox_id = $1`, [row.outbox_id]);
      await tx.query(
        `UPDATE loan.repayments SET credit_restored = true, restore_entry_id = $2 WHERE repayment_id = $1`,
        [p.repaymentId, res.journalEntryId || null],
      );
    });
  }

  private async notify(row: OutboxRow): Promise<void> {
    const p = row.payload as NotifyPayload;
    const userId = await this.borrowerUserId(p.driverId);
    await this.mesh.client(NotificationService).sendInApp(
      create(SendInAppRequestSchema, { userId, title: p.title, body: p.body, kind: p.kind }),
      { headers: { "idempotency-key": row.outbox_id }, timeoutMs: 10_000 },
    );
    await this.pool.query(`UPDATE loan.outbox SET delivered_at = now(), last_error = NULL WHERE outbox_id = $1`, [row.outbox_id]);
  }

  /** The driver's user account: asked of KycService once, then kept in loan.borrowers (never on loan rows, which aging locks). */
  private async borrowerUserId(driverId: string): Promise<string> {
    const known = await one<{ user_id: string }>(this.pool, `SELECT user_id FROM loan.borrowers WHERE driver_id = $1`, [driverId]);
    if (known) return known.user_id;
    const res = await this.mesh.client(KycService).getDriver({ driverId }, { timeoutMs: 10_000 });
    const userId = res.driver?.userId ?? "";
    if (!userId) throw new ConnectError("driver has no user account", Code.FailedPrecondition);
    await this.pool.query(`INSERT INTO loan.borrowers (driver_id, user_id) VALUES ($1, $2) ON CONFLICT (driver_id) DO NOTHING`, [driverId, userId]);
    return userId;
  }
}
