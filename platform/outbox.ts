// The outbox every service uses. Work owed to another party is written as a row in the
// same transaction as the decision that owes it; this delivers it, at least once:
//   claim    a bounded batch of due rows, in one short statement (FOR UPDATE SKIP LOCKED,
//            a lease so a crashed claimer's rows come back; optionally one row at a time
//            per key, in the order written);
//   deliver  through the owning service's callback — its only part — under the trace
//            context stored with the row, with bounded concurrency;
//   record   delivered, retry after a backoff, or dead (a permanent answer, or out of
//            attempts), fenced by the attempt number so a late answer changes nothing;
//            a batch's plain deliveries are marked in one statement;
//   report   fuel_outbox_backlog / _oldest_age_seconds / _deliveries_total.
// No transaction stays open across a delivery. A pass runs when woken (after a commit
// that wrote rows) or every pollMs; stop() waits for the deliveries in flight.
import type { Code } from "@connectrpc/connect";
import { context, propagation, ROOT_CONTEXT } from "@opentelemetry/api";
import { many, withTx, type Pool, type Tx } from "./db.js";
import { log } from "./logger.js";
import { countDelivery, readOutboxStatus, statusSql, watchOutbox, type OutboxSample } from "./outbox-metrics.js";
import { connectFailure, isInterrupted, outboxOptions, verdict, type Failure, type GiveUpPolicy, type OutboxOptions } from "./outbox-rules.js";
import { claimStatement, deliveredManyStatement, NOW, raw, recordStatement, type Columns, type OutboxTable, type Recording } from "./outbox-sql.js";
import { PollingLoop } from "./polling-loop.js";
import { withService } from "./tracing.js";

export { backoffMs, connectFailure, PERMANENT_CODES, type Failure, type OutboxOptions } from "./outbox-rules.js";
export { NOW, raw, type Columns, type OutboxTable } from "./outbox-sql.js";

/** Writes that belong with the outcome: run in its transaction, before the row is marked. */
export type Effects = (tx: Tx) => Promise<void>;

/** What a delivery callback reports (returning nothing means delivered). */
export type Result =
  | { delivered: true; set?: Columns; effects?: Effects; label?: string }
  | {
      delivered: false;
      failure: Failure;
      /** Columns to set when the row is tried again. */
      onRetry?: Columns;
      effects?: Effects;
    };

export interface Attempt {
  /** The row is given up on if this attempt fails. */
  last: boolean;
}

export type Outcome = "delivered" | "retry" | "dead";

export interface ClaimedRow {
  attempts: number;
}

export interface OutboxSpec<Row extends ClaimedRow> {
  /** Names the outbox in metrics and logs, and the service its delivery traces run as. */
  name: string;
  pool: Pool;
  table: OutboxTable;
  /** The one call a row stands for. A throw is a failure, read by `classify`. */
  deliver(row: Row, attempt: Attempt): Promise<Result | void>;
  /** Reads a thrown error (default: a Connect error, permanent for `permanentCodes`). */
  classify?: (err: unknown) => Failure;
  permanentCodes?: ReadonlySet<Code>;
  /** False for rows retried until delivered, whatever the answer (default: every row may be given up on). */
  mayGiveUp?: (row: Row) => boolean;
  /** What names the row in logs besides its id. */
  logFields?: (row: Row) => Record<string, unknown>;
  /** Told of each outcome recorded (a service's own counters). */
  onRecorded?: (row: Row, outcome: Outcome, result: Result | null) => void;
  /** The service's clock for every time the outbox reads or writes (default: the database's now()). */
  clock?: () => Date;
  random?: () => number;
  options?: Partial<OutboxOptions>;
}

/** The usual layout (kyc, loan, payment): the lease kept in next_attempt_at; delivered_at / dead_at end a row. */
export function relayTable(table: string, columns: readonly string[], more: Partial<OutboxTable> = {}): OutboxTable {
  return {
    table,
    id: "outbox_id",
    seq: "seq",
    attempts: "attempts",
    dueAt: "next_attempt_at",
    lastError: "last_error",
    waiting: "delivered_at IS NULL AND dead_at IS NULL",
    givenUp: "dead_at IS NOT NULL",
    created: "create_time",
    columns,
    traceCarrier: "trace_carrier",
    onDelivered: { delivered_at: NOW, last_error: null },
    onDead: { dead_at: NOW },
    ...more,
  };
}

/** The current trace context as a carrier to store with a row (W3C traceparent / tracestate). */
export function traceCarrier(): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier;
}

/** The recording was fenced off (another claimer holds the row now): undo its effects. */
class Superseded extends Error {}

export class Outbox<Row extends ClaimedRow> {
  readonly opts: OutboxOptions;
  private readonly loop: PollingLoop;
  private unwatch: (() => void) | undefined;

  constructor(private readonly spec: OutboxSpec<Row>) {
    this.opts = outboxOptions(spec.options ?? {});
    this.loop = new PollingLoop(`${spec.name} outbox`, this.opts.pollMs, this.opts.batchSize, () => this.runOnce());
  }

  start(): void {
    this.loop.start();
    this.unwatch ??= watchOutbox(this.spec.name, this.spec.pool, statusSql(this.spec.table));
  }

  /** The outbox's name (the service that owns it). */
  get name(): string {
    return this.spec.name;
  }

  /** How many rows wait, how late the oldest is, how many were given up on: read now. */
  async status(): Promise<OutboxSample> {
    return await readOutboxStatus(this.spec.pool, statusSql(this.spec.table));
  }

  /** Called after a commit that wrote rows: deliver now rather than at the next poll. */
  wake(): void {
    this.loop.wake();
  }

  /** Stops claiming; resolves once the deliveries in flight are recorded. */
  async stop(): Promise<void> {
    this.unwatch?.();
    this.unwatch = undefined;
    await this.loop.stop();
  }

  /** One pass: claims a batch of due rows and delivers them. Returns how many were claimed. */
  async runOnce(): Promise<number> {
    const claim = claimStatement(this.spec.table, this.now(), this.opts.batchSize, this.opts.leaseMs);
    const rows = await many<Row & Record<string, unknown>>(this.spec.pool, claim.text, claim.values);
    const plain: Array<Row & Record<string, unknown>> = [];
    let next = 0;
    const worker = async () => {
      while (next < rows.length) {
        const row = rows[next++]!;
        if (await this.handle(row)) plain.push(row);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, rows.length) }, worker));
    if (plain.length) await this.recordDelivered(plain);
    return rows.length;
  }

  /** Marks the batch's plain deliveries in one statement rather than one each. */
  private async recordDelivered(rows: Array<Row & Record<string, unknown>>): Promise<void> {
    const t = this.spec.table;
    let marked: Set<unknown>;
    try {
      const s = deliveredManyStatement(t, this.now(), rows.map((r) => ({ id: r[t.id], attempts: r.attempts })));
      marked = new Set((await many<{ id: unknown }>(this.spec.pool, s.text, s.values)).map((r) => r.id));
    } catch (err) {
      // The leases run out and the rows are claimed again: nothing is lost.
      log.warn({ outbox: this.spec.name, rows: rows.length, err }, `${this.spec.name} outbox: could not record deliveries`);
      return;
    }
    for (const row of rows) {
      if (!marked.has(row[t.id])) continue;
      this.counted(row, "delivered", { delivered: true });
      log.debug({ outbox: this.spec.name, id: row[t.id], attempts: row.attempts, ...this.spec.logFields?.(row) }, `${this.spec.name} outbox: delivered`);
    }
  }

  private now(): Date | null {
    return this.spec.clock?.() ?? null;
  }

  private policy(row: Row): GiveUpPolicy {
    return { maxAttempts: this.opts.maxAttempts, mayGiveUp: this.spec.mayGiveUp?.(row) ?? true };
  }

  /** Delivers one row and records its outcome; true for a plain delivery left to the batch's one mark. */
  private async handle(row: Row & Record<string, unknown>): Promise<boolean> {
    const t = this.spec.table;
    const fields = { outbox: this.spec.name, id: row[t.id], attempts: row.attempts, ...this.spec.logFields?.(row) };
    const policy = this.policy(row);
    if (isInterrupted(row.attempts, policy)) {
      // Its last attempt was cut off (the claimer died): give up without another, and
      // do not count the attempt this claim added.
      const error = raw(`COALESCE(NULLIF(${t.lastError}, ''), 'DELIVERY_INTERRUPTED')`);
      const attempts = raw(`${t.attempts} - 1`);
      if (await this.record(row, { outcome: "dead", error: "", set: { [t.lastError]: error, [t.attempts]: attempts } })) {
        this.counted(row, "dead", null);
        log.error(fields, `${this.spec.name} outbox: last attempt interrupted; giving up`);
      }
      return false;
    }
    let result: Result;
    try {
      const carrier = t.traceCarrier ? ((row[t.traceCarrier] as Record<string, string> | null) ?? {}) : {};
      const parent = withService(propagation.extract(ROOT_CONTEXT, carrier), this.spec.name);
      const last = policy.mayGiveUp && row.attempts >= policy.maxAttempts;
      result = (await context.with(parent, () => this.spec.deliver(row, { last }))) ?? { delivered: true };
    } catch (err) {
      result = { delivered: false, failure: this.spec.classify?.(err) ?? connectFailure(err, this.spec.permanentCodes) };
    }
    const failure = result.delivered ? null : result.failure;
    const v = verdict(failure, row.attempts, policy, this.opts, this.spec.random);
    if (v.outcome === "delivered" && result.delivered && !result.set && !result.effects && !result.label) return true;
    let recording: Recording;
    if (v.outcome === "delivered") recording = { outcome: "delivered", set: result.delivered ? result.set : undefined };
    else if (v.outcome === "dead") recording = { outcome: "dead", error: failure!.error };
    else recording = { outcome: "retry", error: failure!.error, delayMs: v.delayMs, set: result.delivered ? undefined : result.onRetry };
    let recorded: boolean;
    try {
      recorded = await this.record(row, recording, result.effects);
    } catch (err) {
      // The lease runs out and the row is claimed again: nothing is lost.
      log.warn({ ...fields, err }, `${this.spec.name} outbox: could not record an outcome`);
      return false;
    }
    if (!recorded) return false;
    this.counted(row, v.outcome, result);
    if (v.outcome === "delivered") log.debug(fields, `${this.spec.name} outbox: delivered`);
    else if (v.outcome === "dead") log.error({ ...fields, error: failure!.error }, `${this.spec.name} outbox: giving up`);
    else {
      const alarming = failure!.permanent || row.attempts >= this.opts.alertAfterAttempts;
      log[alarming ? "error" : "warn"]({ ...fields, error: failure!.error, retry_in_ms: v.delayMs }, `${this.spec.name} outbox: delivery failed; will retry`);
    }
    return false;
  }

  /** Writes the outcome, with its effects in the same transaction; false when another claim holds the row now. */
  private async record(row: Row & Record<string, unknown>, r: Recording, effects?: Effects): Promise<boolean> {
    const s = recordStatement(this.spec.table, this.now(), row[this.spec.table.id], row.attempts, r);
    if (!effects) return ((await this.spec.pool.query(s.text, s.values)).rowCount ?? 0) === 1;
    try {
      return await withTx(this.spec.pool, async (tx) => {
        await effects(tx);
        if ((await tx.query(s.text, s.values)).rowCount !== 1) throw new Superseded();
        return true;
      });
    } catch (err) {
      if (err instanceof Superseded) return false;
      throw err;
    }
  }

  private counted(row: Row, outcome: Outcome, result: Result | null): void {
    countDelivery(this.spec.name, outcome);
    this.spec.onRecorded?.(row, outcome, result);
  }
}
