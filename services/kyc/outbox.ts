// The notification outbox. A decision and the notification it owes are written in the
// same transaction (enqueue), so neither exists without the other. platform/outbox.ts
// delivers the rows; what a row means is here: NotificationService.SendInApp to the
// owner, with the row id as the idempotency key (redelivery after a crash never
// duplicates), given up on after maxAttempts or an answer retrying cannot change.
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { NotificationService, SendInAppRequestSchema } from "../../gen/fuel/notification/v1/notification_pb.js";
import type { Pool, Tx } from "../../platform/db.js";
import type { Mesh } from "../../platform/mesh.js";
import { Outbox, relayTable, traceCarrier, type OutboxOptions } from "../../platform/outbox.js";

export interface InAppMessage {
  userId: string;
  title: string;
  body: string;
  kind: string;
}

/** Writes an in-app notification to the outbox inside the caller's transaction. */
export async function enqueueInApp(tx: Tx, msg: InAppMessage): Promise<string> {
  const id = randomUUID();
  await tx.query(
    `INSERT INTO kyc.outbox (outbox_id, kind, payload, trace_carrier) VALUES ($1, 'IN_APP', $2, $3)`,
    [id, JSON.stringify(msg), JSON.stringify(traceCarrier())],
  );
  return id;
}

interface OutboxRow {
  outbox_id: string;
  payload: InAppMessage;
  attempts: number;
}

export const DEFAULT_RELAY_OPTIONS = {
  pollMs: 200,
  batchSize: 20,
  leaseMs: 30_000,
  maxAttempts: 20,
  baseBackoffMs: 500,
  maxBackoffMs: 5 * 60_000,
} satisfies Partial<OutboxOptions>;

export { backoffMs } from "../../platform/outbox.js";

export type OutboxRelay = Outbox<OutboxRow>;

export function kycRelay(pool: Pool, mesh: Pick<Mesh, "client">, opts: Partial<OutboxOptions> = {}): OutboxRelay {
  return new Outbox<OutboxRow>({
    name: "kyc",
    pool,
    table: relayTable("kyc.outbox", ["payload", "trace_carrier"]),
    options: { ...DEFAULT_RELAY_OPTIONS, ...opts },
    deliver: async (row) => {
      const m = row.payload;
      await mesh.client(NotificationService).sendInApp(
        create(SendInAppRequestSchema, { userId: m.userId, title: m.title, body: m.body, kind: m.kind }),
        { headers: { "idempotency-key": row.outbox_id }, timeoutMs: 10_000 },
      );
    },
  });
}
