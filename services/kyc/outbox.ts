// The notification outbox. A decision and the notification it owes are written in the
// same transaction (enqueue), so neither exists without the other. The relay claims due
// rows (FOR UPDATE SKIP LOCKED, bounded batch, a lease so a crashed relay's rows come
// back), calls NotificationService.SendInApp under the trace context stored with the
// row (so the trace of the request that decided continues), with the row id as the
// idempotency key (so redelivery after a crash never duplicates), and retries failures
// with exponential backoff.
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { context, propagation, ROOT_CONTEXT } from "@opentelemetry/api";
import { NotificationService, SendInAppRequestSchema } from "../../gen/fuel/notification/v1/notification_pb.js";
import { many, type Pool, type Tx } from "../../platform/db.js";
import { log } from "../../platform/logger.js";
import { backlogSql, countDelivery, watchOutbox } from "../../platform/outbox-metrics.js";
import { backoffMs, PollingLoop } from "../../platform/polling-loop.js";
import type { ServiceDeps } from "../../platform/service.js";
import { withService } from "../../platform/tracing.js";

export interface InAppMessage {
  userId: string;
  title: string;
  body: string;
  kind: string;
}

/** Writes an in-app notification to the outbox inside the caller's transaction. */
export async function enqueueInApp(tx: Tx, msg: InAppMessage): Promise<string> {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  const id = randomUUID();
  await tx.query(
    `INSERT INTO kyc.outbox (outbox_id, kind, payload, trace_carrier) VALUES ($1, 'IN_APP', $2, $3)`,
    [id, JSON.stringify(msg), JSON.stringify(carrier)],
  );
  return id;
}

interface OutboxRow {
  outbox_id: string;
  payload: InAppMessage;
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
  maxAttempts: number;
  baseBackoffMs: number;
  maxBackoffMs: number;
}

export const DEFAULT_RELAY_OPTIONS: RelayOptions = {
  pollMs: 200,
  batchSize: 20,
  leaseMs: 30_000,
  maxAttempts: 20,
  baseBackoffMs: 500,
  maxBackoffMs: 5 * 60_000,
};

export { backoffMs } from "../../platform/polling-loop.js";

export class OutboxRelay {
  readonly opts: RelayOptions;
  private readonly loop: PollingLoop;
  private unwatch: (() => void) | undefined;

  constructor(private readonly pool: Pool, private readonly deps: Pick<ServiceDeps, "mesh">, opts: Partial<RelayOptions> = {}) {
    this.opts = { ...DEFAULT_RELAY_OPTIONS, ...opts };
    this.loop = new PollingLoop("kyc outbox relay", this.opts.pollMs, this.opts.batchSize, () => this.runOnce());
  }

  start(): void {
    this.loop.start();
    this.unwatch ??= watchOutbox("kyc", this.pool, backlogSql("kyc.outbox", "delivered_at IS NULL AND dead_at IS NULL"));
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
    // Claim in one statement (its own short transaction): no transaction is held open
    // across the network call.
    const rows = await many<OutboxRow>(
      this.pool,
      `UPDATE kyc.outbox SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $2::double precision / 1000)
       WHERE outbox_id IN (
         SELECT outbox_id FROM kyc.outbox
         WHERE delivered_at IS NULL AND dead_at IS NULL AND next_attempt_at <= now()
         ORDER BY next_attempt_at, seq LIMIT $1
         FOR UPDATE SKIP LOCKED)
       RETURNING outbox_id, payload, trace_carrier, attempts`,
      [this.opts.batchSize, this.opts.leaseMs],
    );
    await Promise.all(rows.map((r) => this.deliver(r)));
    return rows.length;
  }

  private async deliver(row: OutboxRow): Promise<void> {
    const parent = withService(propagation.extract(ROOT_CONTEXT, row.trace_carrier ?? {}), "kyc");
    try {
      await context.with(parent, () =>
        this.deps.mesh.client(NotificationService).sendInApp(
          create(SendInAppRequestSchema, { userId: row.payload.userId, title: row.payload.title, body: row.payload.body, kind: row.payload.kind }),
          { headers: { "idempotency-key": row.outbox_id }, timeoutMs: 10_000 },
        ),
      );
      await this.pool.query(`UPDATE kyc.outbox SET delivered_at = now(), last_error = NULL WHERE outbox_id = $1`, [row.outbox_id]);
      countDelivery("kyc", "delivered");
    } catch (err) {
      const ce = ConnectError.from(err);
      const error = `${Code[ce.code]}: ${ce.rawMessage}`.slice(0, 500);
      if (PERMANENT.has(ce.code) || row.attempts >= this.opts.maxAttempts) {
        log.error({ outbox_id: row.outbox_id, code: Code[ce.code], attempts: row.attempts }, "kyc outbox: giving up on a notification");
        await this.pool.query(`UPDATE kyc.outbox SET dead_at = now(), last_error = $2 WHERE outbox_id = $1`, [row.outbox_id, error]);
        countDelivery("kyc", "dead");
        return;
      }
      const delay = backoffMs(row.attempts, this.opts);
      log.warn({ outbox_id: row.outbox_id, code: Code[ce.code], attempts: row.attempts, retry_in_ms: delay }, "kyc outbox: delivery failed; will retry");
      countDelivery("kyc", "retry");
      await this.pool.query(
        `UPDATE kyc.outbox SET last_error = $2, next_attempt_at = now() + make_interval(secs => $3::double precision / 1000) WHERE outbox_id = $1`,
        [row.outbox_id, error, delay],
      );
    }
  }
}

// One relay per running service instance (routes and start receive the same deps).
const relays = new WeakMap<object, OutboxRelay>();

export function relayFor(deps: ServiceDeps): OutboxRelay {
  let r = relays.get(deps);
  if (!r) {
    // The embedded database serves every pool through one PGlite session; poll it less
    // often and rely on the wake-up after each commit.
    r = new OutboxRelay(deps.pool, deps, deps.database.embedded ? { pollMs: 1_000 } : {});
    relays.set(deps, r);
  }
  return r;
}
