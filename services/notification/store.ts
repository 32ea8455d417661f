// SQL of NotificationService. Every table is schema-qualified (the embedded database
// shares one session, so search_path is never relied on); every time comes from the
// service's clock.
import { randomUUID } from "node:crypto";
import { many, one, type Pool, type Tx } from "../../platform/db.js";

export type ChannelName = "SMS" | "EMAIL" | "PUSH" | "IN_APP";
export type StatusName = "QUEUED" | "SENT" | "FAILED";
export type PlatformName = "ANDROID" | "IOS";

export interface DeliveryRow {
  delivery_id: string;
  channel: ChannelName;
  user_id: string | null;
  recipient: string;
  subject: string;
  body: string;
  html_body: string | null;
  data: Record<string, string>;
  push_tokens: string[];
  status: StatusName;
  attempts: number;
  last_error: string;
  provider_message_id: string;
  next_attempt_time: Date | null;
  locked_until: Date | null;
  idem_scope: string;
  idem_key: string;
  request_hash: string;
  trace_id: string;
  create_time: Date;
  sent_time: Date | null;
}

export interface NotificationRow {
  notification_id: string;
  user_id: string;
  title: string;
  body: string;
  kind: string;
  read_time: Date | null;
  create_time: Date;
  idem_scope: string;
  idem_key: string;
  request_hash: string;
  trace_id: string;
}

export interface Idem {
  scope: string;
  key: string;
  requestHash: string;
}

export interface NewDelivery {
  channel: ChannelName;
  userId: string | null;
  recipient: string;
  subject: string;
  body: string;
  htmlBody?: string | null;
  data?: Record<string, string>;
  pushTokens?: string[];
  status: StatusName;
  lastError?: string;
  traceId: string;
  now: Date;
  sentTime?: Date | null;
}

/** Every column of a delivery, in the order the outbox claims them. */
export const DELIVERY_COLUMN_NAMES = [
  "delivery_id", "channel", "user_id", "recipient", "subject", "body", "html_body", "data", "push_tokens", "status",
  "attempts", "last_error", "provider_message_id", "next_attempt_time", "locked_until", "idem_scope", "idem_key", "request_hash",
  "trace_id", "create_time", "sent_time",
] as const;
const DELIVERY_COLUMNS = DELIVERY_COLUMN_NAMES.join(", ");

/**
 * Inserts a delivery unless (scope, key) already exists; returns the row and whether it
 * is new. A replay (after the Redis fast path lost its record) returns the first row.
 */
export async function insertDelivery(db: Pool | Tx, d: NewDelivery, idem: Idem): Promise<{ row: DeliveryRow; created: boolean }> {
  const inserted = await one<DeliveryRow>(
    db,
    `INSERT INTO notification.deliveries
       (delivery_id, channel, user_id, recipient, subject, body, html_body, data, push_tokens, status, last_error,
        next_attempt_time, idem_scope, idem_key, request_hash, trace_id, create_time, sent_time)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::text[], $10, $11, $12, $13, $14, $15, $16, $17, $18)
     ON CONFLICT (idem_scope, idem_key) DO NOTHING
     RETURNING ${DELIVERY_COLUMNS}`,
    [
      randomUUID(), d.channel, d.userId, d.recipient, d.subject, d.body, d.htmlBody ?? null, JSON.stringify(d.data ?? {}),
      d.pushTokens ?? [], d.status, d.lastError ?? "", d.status === "QUEUED" ? d.now : null,
      idem.scope, idem.key, idem.requestHash, d.traceId, d.now, d.sentTime ?? null,
    ],
  );
  if (inserted) return { row: inserted, created: true };
  return { row: await byIdem(db, idem), created: false };
}

/**
 * Queues a push to every device the user has now (a snapshot of their tokens), or, if
 * they have none, records it FAILED with NO_DEVICES — one statement, so it is atomic.
 */
export async function insertPushDelivery(
  db: Pool | Tx,
  d: { userId: string; title: string; body: string; data: Record<string, string>; traceId: string; now: Date },
  idem: Idem,
): Promise<{ row: DeliveryRow; created: boolean }> {
  const inserted = await one<DeliveryRow>(
    db,
    `INSERT INTO notification.deliveries
       (delivery_id, channel, user_id, recipient, subject, body, data, push_tokens, status, last_error,
        next_attempt_time, idem_scope, idem_key, request_hash, trace_id, create_time)
     SELECT $1, 'PUSH', $2, '', $3,
            CASE WHEN cardinality(t.tokens) = 0 THEN '' ELSE $4 END,
            CASE WHEN cardinality(t.tokens) = 0 THEN '{}'::jsonb ELSE $5::jsonb END,
            t.tokens,
            CASE WHEN cardinality(t.tokens) = 0 THEN 'FAILED' ELSE 'QUEUED' END,
            CASE WHEN cardinality(t.tokens) = 0 THEN 'NO_DEVICES' ELSE '' END,
            CASE WHEN cardinality(t.tokens) = 0 THEN NULL ELSE $6::timestamptz END,
            $7, $8, $9, $10, $6
     FROM (SELECT COALESCE(array_agg(token ORDER BY create_time, device_id), '{}'::text[]) AS tokens
           FROM notification.push_devices WHERE user_id = $2) AS t
     ON CONFLICT (idem_scope, idem_key) DO NOTHING
     RETURNING ${DELIVERY_COLUMNS}`,
    [randomUUID(), d.userId, d.title, d.body, JSON.stringify(d.data), d.now, idem.scope, idem.key, idem.requestHash, d.traceId],
  );
  if (inserted) return { row: inserted, created: true };
  return { row: await byIdem(db, idem), created: false };
}

async function byIdem(db: Pool | Tx, idem: Idem): Promise<DeliveryRow> {
  const existing = await one<DeliveryRow>(
    db,
    `SELECT ${DELIVERY_COLUMNS} FROM notification.deliveries WHERE idem_scope = $1 AND idem_key = $2`,
    [idem.scope, idem.key],
  );
  if (!existing) throw new Error("delivery vanished between insert conflict and read");
  return existing;
}

export async function upsertPushDevice(db: Pool | Tx, userId: string, platform: PlatformName, token: string, now: Date): Promise<string> {
  const row = await one<{ device_id: string }>(
    db,
    `INSERT INTO notification.push_devices (device_id, user_id, platform, token, create_time, update_time)
     VALUES ($1, $2, $3, $4, $5, $5)
     ON CONFLICT (token) DO UPDATE SET user_id = EXCLUDED.user_id, platform = EXCLUDED.platform, update_time = EXCLUDED.update_time
     RETURNING device_id`,
    [randomUUID(), userId, platform, token, now],
  );
  return row!.device_id;
}

export async function deletePushDevice(db: Pool | Tx, token: string): Promise<void> {
  await db.query(`DELETE FROM notification.push_devices WHERE token = $1`, [token]);
}

const NOTIFICATION_COLUMNS = `notification_id, user_id, title, body, kind, read_time, create_time, idem_scope, idem_key, request_hash, trace_id`;

/** Stores an in-app notification and its SENT history entry in one (atomic) statement. */
export async function insertNotification(
  db: Pool | Tx,
  n: { userId: string; title: string; body: string; kind: string; traceId: string; now: Date },
  idem: Idem,
): Promise<{ row: NotificationRow; created: boolean }> {
  const inserted = await one<NotificationRow>(
    db,
    `WITH n AS (
       INSERT INTO notification.notifications
         (notification_id, user_id, title, body, kind, create_time, idem_scope, idem_key, request_hash, trace_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (idem_scope, idem_key) DO NOTHING
       RETURNING ${NOTIFICATION_COLUMNS}
     ), d AS (
       INSERT INTO notification.deliveries
         (delivery_id, channel, user_id, recipient, subject, body, status, idem_scope, idem_key, request_hash, trace_id, create_time, sent_time)
       SELECT $11, 'IN_APP', n.user_id, '', n.title, '', 'SENT', n.idem_scope, n.idem_key, n.request_hash, n.trace_id, n.create_time, n.create_time
       FROM n
       ON CONFLICT (idem_scope, idem_key) DO NOTHING
     )
     SELECT * FROM n`,
    [randomUUID(), n.userId, n.title, n.body, n.kind, n.now, idem.scope, idem.key, idem.requestHash, n.traceId, randomUUID()],
  );
  if (inserted) return { row: inserted, created: true };
  const existing = await one<NotificationRow>(
    db,
    `SELECT ${NOTIFICATION_COLUMNS} FROM notification.notifications WHERE idem_scope = $1 AND idem_key = $2`,
    [idem.scope, idem.key],
  );
  if (!existing) throw new Error("notification vanished between insert conflict and read");
  return { row: existing, created: false };
}

export interface Cursor {
  time: Date;
  id: string;
}

export async function listNotifications(db: Pool, userId: string, opts: { limit: number; after: Cursor | null; unreadOnly: boolean }): Promise<NotificationRow[]> {
  const params: unknown[] = [userId, opts.limit];
  let where = `user_id = $1`;
  if (opts.unreadOnly) where += ` AND read_time IS NULL`;
  if (opts.after) {
    params.push(opts.after.time, opts.after.id);
    where += ` AND (create_time, notification_id) < ($3::timestamptz, $4::uuid)`;
  }
  return await many<NotificationRow>(
    db,
    `SELECT ${NOTIFICATION_COLUMNS} FROM notification.notifications WHERE ${where}
     ORDER BY create_time DESC, notification_id DESC LIMIT $2`,
    params,
  );
}

export async function unreadCount(db: Pool, userId: string): Promise<number> {
  const row = await one<{ n: number }>(
    db,
    `SELECT count(*)::int AS n FROM notification.notifications WHERE user_id = $1 AND read_time IS NULL`,
    [userId],
  );
  return row?.n ?? 0;
}

export async function markRead(db: Pool, userId: string, ids: string[], now: Date): Promise<number> {
  const res = await db.query(
    `UPDATE notification.notifications SET read_time = $3
     WHERE user_id = $1 AND notification_id = ANY($2::uuid[]) AND read_time IS NULL`,
    [userId, ids, now],
  );
  return res.rowCount ?? 0;
}

export async function listDeliveries(
  db: Pool,
  opts: { limit: number; after: Cursor | null; userId: string | null; channel: ChannelName | null; status: StatusName | null },
): Promise<DeliveryRow[]> {
  const params: unknown[] = [opts.limit];
  const where: string[] = [];
  const add = (clause: (n: number) => string, value: unknown) => {
    params.push(value);
    where.push(clause(params.length));
  };
  if (opts.userId) add((n) => `user_id = $${n}::uuid`, opts.userId);
  if (opts.channel) add((n) => `channel = $${n}`, opts.channel);
  if (opts.status) add((n) => `status = $${n}`, opts.status);
  if (opts.after) {
    params.push(opts.after.time, opts.after.id);
    where.push(`(create_time, delivery_id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
  }
  return await many<DeliveryRow>(
    db,
    `SELECT ${DELIVERY_COLUMNS} FROM notification.deliveries
     ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
     ORDER BY create_time DESC, delivery_id DESC LIMIT $1`,
    params,
  );
}
