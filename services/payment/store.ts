// PaymentService SQL. Every statement names its schema (payment.*): the embedded
// database runs one shared session, so search_path is never relied upon.
import { randomUUID } from "node:crypto";
import { many, one, type Pool, type Tx } from "../../platform/db.js";
import { traceCarrier } from "../../platform/outbox.js";
import type { AllocationResult } from "./amount-rule.js";
import type { PayStatus } from "./status-rule.js";

export type ReviewReasonName = "UNSPECIFIED" | "AMOUNT_MISMATCH" | "CURRENCY_MISMATCH" | "OVERPAYMENT";
export type MethodName = "CARD" | "BANK_TRANSFER" | "MOBILE_MONEY" | "USSD";

export interface PaymentRow {
  payment_id: string;
  driver_id: string | null;
  agency_id: string | null;
  initiated_by: string;
  status: PayStatus;
  currency: string;
  amount_minor: bigint;
  method: MethodName;
  return_url: string;
  gateway: string;
  gateway_payment_id: string | null;
  checkout_url: string;
  received_minor: bigint | null;
  received_currency: string | null;
  review_reason: ReviewReasonName;
  unapplied_minor: bigint;
  failure_code: string;
  failure_message: string;
  request_hash: string;
  create_time: Date;
  update_time: Date;
  succeed_time: Date | null;
  expire_time: Date;
}

export interface AllocationRow {
  payment_id: string;
  loan_id: string;
  position: number;
  amount_minor: bigint;
  currency: string;
  loan_driver_id: string;
  loan_agency_id: string | null;
  loan_bank_id: string;
  status: "PENDING" | AllocationResult;
  applied_minor: bigint;
  repayment_id: string | null;
}

export interface PaymentWithAllocations {
  payment: PaymentRow;
  allocations: AllocationRow[];
}

const PAYMENT_COLUMNS = `payment_id, driver_id, agency_id, initiated_by, status, currency, amount_minor, method, return_url,
  gateway, gateway_payment_id, checkout_url, received_minor, received_currency, review_reason, unapplied_minor,
  failure_code, failure_message, request_hash, create_time, update_time, succeed_time, expire_time`;

export interface NewPayment {
  paymentId: string;
  payer: { driverId: string } | { agencyId: string };
  initiatedBy: string;
  currency: string;
  amount: bigint;
  method: MethodName;
  returnUrl: string;
  gateway: string;
  idempotencyScope: string;
  idempotencyKey: string;
  requestHash: string;
  now: Date;
  expireTime: Date;
  allocations: Array<{ loanId: string; amount: bigint; driverId: string; agencyId: string | null; bankId: string }>;
}

/**
 * Inserts the payment and its allocations unless this idempotency key already made one;
 * returns the payment of this key either way (`created` tells which).
 */
export async function insertPayment(tx: Tx, p: NewPayment): Promise<{ created: boolean; row: PaymentRow }> {
  const inserted = await one<PaymentRow>(
    tx,
    `INSERT INTO payment.payments (payment_id, driver_id, agency_id, initiated_by, currency, amount_minor, method, return_url,
       gateway, idempotency_scope, idempotency_key, request_hash, create_time, update_time, expire_time)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14)
     ON CONFLICT (idempotency_scope, idempotency_key) DO NOTHING
     RETURNING ${PAYMENT_COLUMNS}`,
    [
      p.paymentId,
      "driverId" in p.payer ? p.payer.driverId : null,
      "agencyId" in p.payer ? p.payer.agencyId : null,
      p.initiatedBy,
      p.currency,
      p.amount,
      p.method,
      p.returnUrl,
      p.gateway,
      p.idempotencyScope,
      p.idempotencyKey,
      p.requestHash,
      p.now,
      p.expireTime,
    ],
  );
  if (!inserted) {
    const existing = await one<PaymentRow>(
      tx,
      `SELECT ${PAYMENT_COLUMNS} FROM payment.payments WHERE idempotency_scope = $1 AND idempotency_key = $2`,
      [p.idempotencyScope, p.idempotencyKey],
    );
    return { created: false, row: existing! };
  }
  let position = 0;
  for (const a of p.allocations) {
    await tx.query(
      `INSERT INTO payment.allocations (payment_id, loan_id, position, amount_minor, currency, loan_driver_id, loan_agency_id, loan_bank_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [p.paymentId, a.loanId, position++, a.amount, p.currency, a.driverId, a.agencyId, a.bankId],
    );
  }
  return { created: true, row: inserted };
}

/** Looks up the payment an idempotency key already created, if any. */
export async function paymentByKey(db: Pool | Tx, scope: string, key: string): Promise<PaymentRow | undefined> {
  return await one<PaymentRow>(db, `SELECT ${PAYMENT_COLUMNS} FROM payment.payments WHERE idempotency_scope = $1 AND idempotency_key = $2`, [scope, key]);
}

export async function recordGatewayPayment(tx: Tx, paymentId: string, gatewayPaymentId: string, checkoutUrl: string, now: Date): Promise<void> {
  await tx.query(
    `UPDATE payment.payments
        SET gateway_payment_id = COALESCE(gateway_payment_id, $2),
            checkout_url = CASE WHEN status = 'PENDING' THEN $3 ELSE '' END,
            update_time = $4
      WHERE payment_id = $1`,
    [paymentId, gatewayPaymentId, checkoutUrl, now],
  );
}

export async function paymentById(db: Pool | Tx, paymentId: string, forUpdate = false): Promise<PaymentRow | undefined> {
  return await one<PaymentRow>(db, `SELECT ${PAYMENT_COLUMNS} FROM payment.payments WHERE payment_id = $1${forUpdate ? " FOR UPDATE" : ""}`, [paymentId]);
}

export async function allocationsOf(db: Pool | Tx, paymentIds: string[]): Promise<Map<string, AllocationRow[]>> {
  const out = new Map<string, AllocationRow[]>();
  if (paymentIds.length === 0) return out;
  const rows = await many<AllocationRow>(
    db,
    `SELECT payment_id, loan_id, position, amount_minor, currency, loan_driver_id, loan_agency_id, loan_bank_id, status, applied_minor, repayment_id
       FROM payment.allocations WHERE payment_id = ANY($1::uuid[]) ORDER BY payment_id, position`,
    [paymentIds],
  );
  for (const r of rows) {
    const list = out.get(r.payment_id) ?? [];
    list.push(r);
    out.set(r.payment_id, list);
  }
  return out;
}

export async function loadFull(db: Pool | Tx, paymentId: string): Promise<PaymentWithAllocations | undefined> {
  const payment = await paymentById(db, paymentId);
  if (!payment) return undefined;
  return { payment, allocations: (await allocationsOf(db, [paymentId])).get(paymentId) ?? [] };
}

/** Row-level visibility of payments for one caller, as SQL over alias `p`. */
export type Visibility =
  | { kind: "all" }
  | { kind: "driver"; driverId: string }
  | { kind: "agency"; agencyId: string }
  | { kind: "bank"; bankId: string }
  | { kind: "none" };

function visibilitySql(v: Visibility, params: unknown[]): string {
  switch (v.kind) {
    case "all":
      return "TRUE";
    case "none":
      return "FALSE";
    case "driver":
      params.push(v.driverId);
      return `p.driver_id = $${params.length}`;
    case "agency":
      params.push(v.agencyId);
      return `(p.agency_id = $${params.length} OR EXISTS (SELECT 1 FROM payment.allocations va WHERE va.payment_id = p.payment_id AND va.loan_agency_id = $${params.length}))`;
    case "bank":
      params.push(v.bankId);
      return `EXISTS (SELECT 1 FROM payment.allocations va WHERE va.payment_id = p.payment_id AND va.loan_bank_id = $${params.length})`;
  }
}

export async function visiblePayment(db: Pool, paymentId: string, v: Visibility): Promise<PaymentRow | undefined> {
  const params: unknown[] = [paymentId];
  const where = visibilitySql(v, params);
  return await one<PaymentRow>(db, `SELECT ${PAYMENT_COLUMNS} FROM payment.payments p WHERE p.payment_id = $1 AND ${where}`, params);
}

export interface ListFilter {
  statuses: PayStatus[];
  loanId: string | null;
  driverId: string | null;
  agencyId: string | null;
  start: Date | null;
  end: Date | null;
  after: { createTime: Date; paymentId: string } | null;
  limit: number;
}

/** Newest first, keyset-paginated on (create_time, payment_id). */
export async function listPayments(db: Pool, v: Visibility, f: ListFilter): Promise<PaymentRow[]> {
  const params: unknown[] = [];
  const where = [visibilitySql(v, params)];
  const add = (sql: (n: number) => string, value: unknown) => {
    params.push(value);
    where.push(sql(params.length));
  };
  if (f.statuses.length > 0) add((n) => `p.status = ANY($${n}::text[])`, f.statuses);
  if (f.loanId) add((n) => `EXISTS (SELECT 1 FROM payment.allocations fa WHERE fa.payment_id = p.payment_id AND fa.loan_id = $${n})`, f.loanId);
  if (f.driverId) add((n) => `p.driver_id = $${n}`, f.driverId);
  if (f.agencyId) add((n) => `p.agency_id = $${n}`, f.agencyId);
  if (f.start) add((n) => `p.create_time >= $${n}`, f.start);
  if (f.end) add((n) => `p.create_time < $${n}`, f.end);
  if (f.after) {
    params.push(f.after.createTime, f.after.paymentId);
    where.push(`(p.create_time, p.payment_id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
  }
  params.push(f.limit);
  return await many<PaymentRow>(
    db,
    `SELECT ${PAYMENT_COLUMNS.split(",").map((c) => `p.${c.trim()}`).join(", ")} FROM payment.payments p
      WHERE ${where.join(" AND ")}
      ORDER BY p.create_time DESC, p.payment_id DESC LIMIT $${params.length}`,
    params,
  );
}

// ---- gateway events ----------------------------------------------------------------

/** Records an event id; false when this gateway already sent it (a duplicate). */
export async function claimEvent(
  tx: Tx,
  e: { gateway: string; eventId: string; source: "WEBHOOK" | "SYNC"; paymentId: string | null; type: string; event: unknown; now: Date },
): Promise<boolean> {
  const r = await tx.query(
    `INSERT INTO payment.gateway_events (gateway, event_id, source, payment_id, type, outcome, event, receive_time)
     VALUES ($1, $2, $3, $4, $5, 'PENDING', $6, $7) ON CONFLICT (gateway, event_id) DO NOTHING RETURNING 1`,
    [e.gateway, e.eventId, e.source, e.paymentId, e.type, JSON.stringify(e.event), e.now],
  );
  return r.rowCount === 1;
}

export async function setEventOutcome(tx: Tx, gateway: string, eventId: string, outcome: string): Promise<void> {
  await tx.query(`UPDATE payment.gateway_events SET outcome = $3 WHERE gateway = $1 AND event_id = $2`, [gateway, eventId, outcome]);
}

export interface StatusChange {
  status: PayStatus;
  gatewayPaymentId?: string;
  received?: { amount: bigint; currency: string };
  reviewReason?: ReviewReasonName;
  unapplied?: bigint;
  failureCode?: string;
  failureMessage?: string;
  succeedTime?: Date;
  now: Date;
}

export async function updateStatus(tx: Tx, paymentId: string, c: StatusChange): Promise<void> {
  await tx.query(
    `UPDATE payment.payments SET
        status = $2,
        gateway_payment_id = COALESCE(gateway_payment_id, $3),
        received_minor = COALESCE($4, received_minor),
        received_currency = COALESCE($5, received_currency),
        review_reason = COALESCE($6, review_reason),
        unapplied_minor = COALESCE($7, unapplied_minor),
        failure_code = COALESCE($8, failure_code),
        failure_message = COALESCE($9, failure_message),
        succeed_time = COALESCE($10, succeed_time),
        checkout_url = CASE WHEN $2 = 'PENDING' THEN checkout_url ELSE '' END,
        update_time = $11
      WHERE payment_id = $1`,
    [
      paymentId,
      c.status,
      c.gatewayPaymentId ?? null,
      c.received?.amount ?? null,
      c.received?.currency ?? null,
      c.reviewReason ?? null,
      c.unapplied ?? null,
      c.failureCode ?? null,
      c.failureMessage ?? null,
      c.succeedTime ?? null,
      c.now,
    ],
  );
}

export async function markAllocationsNotApplied(tx: Tx, paymentId: string): Promise<void> {
  await tx.query(`UPDATE payment.allocations SET status = 'NOT_APPLIED' WHERE payment_id = $1 AND status = 'PENDING'`, [paymentId]);
}

export async function touchSynced(db: Pool | Tx, paymentId: string, now: Date): Promise<void> {
  await db.query(`UPDATE payment.payments SET last_sync_time = $2 WHERE payment_id = $1`, [paymentId, now]);
}

/**
 * PENDING payments created at or before `olderThan`: the least recently synced first (so
 * a repeated call moves on to others), returned oldest first.
 */
export async function pendingPayments(db: Pool, olderThan: Date, limit: number): Promise<PaymentRow[]> {
  return await many<PaymentRow>(
    db,
    `SELECT * FROM (
       SELECT ${PAYMENT_COLUMNS}, last_sync_time FROM payment.payments WHERE status = 'PENDING' AND create_time <= $1
        ORDER BY last_sync_time NULLS FIRST, create_time, payment_id LIMIT $2) picked
      ORDER BY create_time, payment_id`,
    [olderThan, limit],
  );
}

// ---- outbox --------------------------------------------------------------------------

/** Queues one ApplyRepayment per allocation, carrying the current trace context. */
export async function enqueueRepayments(tx: Tx, paymentId: string, loanIds: string[]): Promise<void> {
  const carrier = traceCarrier();
  for (const loanId of loanIds) {
    await tx.query(
      `INSERT INTO payment.outbox (outbox_id, payment_id, loan_id, trace_carrier) VALUES ($1, $2, $3, $4) ON CONFLICT (payment_id, loan_id) DO NOTHING`,
      [randomUUID(), paymentId, loanId, JSON.stringify(carrier)],
    );
  }
}
