// The transaction outbox. A decline's notices are written by the statement that records
// the decline (store.ts), and delivered here, at least once, with idempotency keys that
// make each notice arrive once:
//   DECLINE_NOTICE  the driver's in-app notice and push (NotificationService.SendInApp /
//                   SendPush; the driver's user from KycService.GetDriver), and for a
//                   decline on an agency's line an in-app notice to each of the agency's
//                   admins (AuthService.ListUsers). Given up after maxAttempts or on an
//                   answer retrying cannot fix.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { Role } from "../../gen/fuel/common/v1/common_pb.js";
import { AuthService } from "../../gen/fuel/auth/v1/auth_pb.js";
import { KycService } from "../../gen/fuel/kyc/v1/kyc_pb.js";
import { NotificationService, SendInAppRequestSchema, SendPushRequestSchema } from "../../gen/fuel/notification/v1/notification_pb.js";
import type { Pool } from "../../platform/db.js";
import type { Mesh } from "../../platform/mesh.js";
import { Outbox, relayTable, type OutboxOptions } from "../../platform/outbox.js";
import { agencyText, driverText, type DeclineNotice } from "./decline-notice.js";

type OutboxRow = { outbox_id: string; transaction_id: string; attempts: number; kind: "DECLINE_NOTICE"; payload: DeclineNotice };

export const DEFAULT_RELAY_OPTIONS = {
  pollMs: 500,
  batchSize: 20,
  leaseMs: 30_000,
  maxAttempts: 20,
  baseBackoffMs: 250,
  maxBackoffMs: 5 * 60_000,
} satisfies Partial<OutboxOptions>;

/** Most admins of one agency told of a decline (a page of ListUsers). */
const AGENCY_ADMINS_MAX = 50;
const CALL_TIMEOUT_MS = 10_000;

export type TransactionOutboxRelay = Outbox<OutboxRow>;

export function transactionRelay(pool: Pool, mesh: Pick<Mesh, "client">, opts: Partial<OutboxOptions> = {}): TransactionOutboxRelay {
  const notify = async (row: OutboxRow): Promise<void> => {
    const n = row.payload;
    const key = (what: string) => ({ headers: { "idempotency-key": `${row.outbox_id}:${what}` }, timeoutMs: CALL_TIMEOUT_MS });
    const driver = (await mesh.client(KycService).getDriver({ driverId: n.driverId }, { timeoutMs: CALL_TIMEOUT_MS })).driver;
    if (!driver?.userId) throw new ConnectError("driver has no user account", Code.FailedPrecondition);
    const notifications = mesh.client(NotificationService);
    const d = driverText(n);
    await notifications.sendInApp(create(SendInAppRequestSchema, { userId: driver.userId, title: d.title, body: d.body, kind: d.kind }), key("driver"));
    await notifications.sendPush(create(SendPushRequestSchema, { userId: driver.userId, title: d.title, body: d.body, data: d.data }), key("driver-push"));
    if (!n.agencyId) return;
    const admins = await mesh.client(AuthService).listUsers({ role: Role.AGENCY_ADMIN, agencyId: n.agencyId, pageSize: AGENCY_ADMINS_MAX }, { timeoutMs: CALL_TIMEOUT_MS });
    const a = agencyText(n, driver.fullName || "A driver");
    for (const admin of admins.users) {
      await notifications.sendInApp(create(SendInAppRequestSchema, { userId: admin.userId, title: a.title, body: a.body, kind: a.kind }), key(`agency:${admin.userId}`));
    }
  };

  return new Outbox<OutboxRow>({
    name: "transaction",
    pool,
    table: relayTable("transaction.outbox", ["kind", "transaction_id", "payload", "trace_carrier"]),
    options: { ...DEFAULT_RELAY_OPTIONS, ...opts },
    logFields: (row) => ({ kind: row.kind, transaction_id: row.transaction_id }),
    deliver: async (row) => await notify(row),
  });
}
