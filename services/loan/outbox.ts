// The loan outbox. Work owed to other services is written in the same transaction as the
// decision that owes it, so neither exists without the other; platform/outbox.ts
// delivers it. What a row means is here:
//   RESTORE_CREDIT  a repayment's principal part goes back to the credit line
//                   (CreditService.RestoreCredit, idempotency key = repayment id). Retried
//                   with capped exponential backoff until it succeeds — never given up,
//                   because giving up would leave the driver's line short for good.
//   NOTIFY          an in-app notice to the borrower (NotificationService.SendInApp,
//                   idempotency key = outbox id); the borrower's user id is resolved once
//                   through KycService.GetDriver and kept in loan.borrowers. Given up after
//                   maxAttempts or on an error that retrying cannot fix. A loan's
//                   notices are delivered one at a time, in the order they were decided:
//                   otherwise "repaid" could reach the driver before the "in default"
//                   that preceded it. A notice given up on no longer holds the next back.
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { CreditService, RestoreCreditRequestSchema } from "../../gen/fuel/credit/v1/credit_pb.js";
import { KycService } from "../../gen/fuel/kyc/v1/kyc_pb.js";
import { NotificationService, SendInAppRequestSchema } from "../../gen/fuel/notification/v1/notification_pb.js";
import { one, type Pool, type Tx } from "../../platform/db.js";
import type { Mesh } from "../../platform/mesh.js";
import { Outbox, relayTable, traceCarrier, type OutboxOptions, type Result } from "../../platform/outbox.js";

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

type OutboxRow = { outbox_id: string; loan_id: string; attempts: number } & (
  | { kind: "RESTORE_CREDIT"; payload: RestorePayload }
  | { kind: "NOTIFY"; payload: NotifyPayload }
);

export const DEFAULT_RELAY_OPTIONS = {
  pollMs: 200,
  batchSize: 20,
  leaseMs: 30_000,
  /** NOTIFY rows only: restores are never given up on. */
  maxAttempts: 20,
  baseBackoffMs: 250,
  maxBackoffMs: 5 * 60_000,
} satisfies Partial<OutboxOptions>;

export { backoffMs } from "../../platform/outbox.js";

export type LoanOutboxRelay = Outbox<OutboxRow>;

/** Borrowers' user ids a relay keeps in memory at most. */
const BORROWERS_CACHED_MAX = 10_000;

export function loanRelay(pool: Pool, mesh: Pick<Mesh, "client">, opts: Partial<OutboxOptions> = {}): LoanOutboxRelay {
  const restore = async (p: RestorePayload): Promise<Result> => {
    const res = await mesh.client(CreditService).restoreCredit(
      create(RestoreCreditRequestSchema, {
        creditLineId: p.creditLineId,
        amount: { amountMinor: BigInt(p.amountMinor), currency: p.currency },
        loanId: p.loanId,
        repaymentId: p.repaymentId,
      }),
      { headers: { "idempotency-key": p.repaymentId }, timeoutMs: 10_000 },
    );
    const effects = async (tx: Tx) => {
      await tx.query(`UPDATE loan.repayments SET credit_restored = true, restore_entry_id = $2 WHERE repayment_id = $1`, [
        p.repaymentId,
        res.journalEntryId || null,
      ]);
    };
    return { delivered: true, effects };
  };

  // A borrower's row is written once and never changed, so what this relay has read of
  // it stays true: kept here too, bounded, it saves a read per notice.
  const users = new Map<string, string>();
  const remember = (driverId: string, userId: string) => {
    if (users.size >= BORROWERS_CACHED_MAX) users.delete(users.keys().next().value!);
    users.set(driverId, userId);
    return userId;
  };

  /** The driver's user account: asked of KycService once, then kept in loan.borrowers (never on loan rows, which aging locks). */
  const borrowerUserId = async (driverId: string): Promise<string> => {
    const cached = users.get(driverId);
    if (cached) return cached;
    const known = await one<{ user_id: string }>(pool, `SELECT user_id FROM loan.borrowers WHERE driver_id = $1`, [driverId]);
    if (known) return remember(driverId, known.user_id);
    const res = await mesh.client(KycService).getDriver({ driverId }, { timeoutMs: 10_000 });
    const userId = res.driver?.userId ?? "";
    if (!userId) throw new ConnectError("driver has no user account", Code.FailedPrecondition);
    await pool.query(`INSERT INTO loan.borrowers (driver_id, user_id) VALUES ($1, $2) ON CONFLICT (driver_id) DO NOTHING`, [driverId, userId]);
    return remember(driverId, userId);
  };

  const notify = async (outboxId: string, p: NotifyPayload): Promise<void> => {
    const userId = await borrowerUserId(p.driverId);
    await mesh.client(NotificationService).sendInApp(
      create(SendInAppRequestSchema, { userId, title: p.title, body: p.body, kind: p.kind }),
      { headers: { "idempotency-key": outboxId }, timeoutMs: 10_000 },
    );
  };

  return new Outbox<OutboxRow>({
    name: "loan",
    pool,
    table: relayTable("loan.outbox", ["kind", "loan_id", "payload", "trace_carrier"], {
      orderPerKey: { key: "loan_id", where: "kind = 'NOTIFY'" },
    }),
    options: { ...DEFAULT_RELAY_OPTIONS, ...opts },
    mayGiveUp: (row) => row.kind === "NOTIFY",
    logFields: (row) => ({ kind: row.kind, loan_id: row.loan_id }),
    deliver: async (row) => (row.kind === "RESTORE_CREDIT" ? await restore(row.payload) : await notify(row.outbox_id, row.payload)),
  });
}
