// TransactionService SQL. Every statement is schema-qualified (transaction.*); no
// search_path tricks (the embedded database runs one shared session).
import { randomUUID } from "node:crypto";
import { many, one, type Pool, type Tx } from "../../platform/db.js";
import { traceCarrier } from "../../platform/outbox.js";
import { checkInitial, checkTransition, SWEPT, type State } from "./state.js";

export const IDEMPOTENCY_TABLE = "transaction.idempotency_keys";

export interface QrRow {
  qr_code_id: string;
  driver_id: string;
  payload: string;
  fuel_type: number;
  max_amount: bigint | null;
  currency: string | null;
  station_id: string | null;
  status: "ACTIVE" | "USED";
  expire_time: Date;
  create_time: Date;
  use_time: Date | null;
  transaction_id: string | null;
}

export interface TxnRow {
  transaction_id: string;
  state: State;
  driver_id: string;
  agency_id: string | null;
  bank_id: string | null;
  credit_line_id: string | null;
  station_id: string;
  merchant_id: string;
  pump_id: string;
  qr_code_id: string;
  fuel_type: number;
  currency: string;
  requested_amount: bigint;
  approved_amount: bigint;
  partially_approved: boolean;
  decline_reason: number;
  hold_id: string | null;
  hold_expire_time: Date | null;
  hold_request: Buffer;
  authorized_price: bigint;
  approved_volume_ml: bigint;
  settled_volume_ml: bigint;
  settled_price: bigint;
  settled_amount: bigint | null;
  released_amount: bigint | null;
  loan_id: string | null;
  terminal_reference: string;
  void_reason: string;
  create_time: Date;
  authorize_time: Date | null;
  settle_time: Date | null;
  cancel_time: Date | null;
  update_time: Date;
  recover_after: Date | null;
  recover_attempts: number;
  /** Authorised by volume: the millilitres asked for (the price is then locked); 0 by amount. */
  requested_volume_ml: bigint;
}

export async function insertQr(db: Pool | Tx, r: Omit<QrRow, "status" | "use_time" | "transaction_id">): Promise<QrRow> {
  return (await one<QrRow>(
    db,
    `INSERT INTO transaction.qr_codes (qr_code_id, driver_id, payload, fuel_type, max_amount, currency, station_id, expire_time, create_time)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) RETURNING *`,
    [r.qr_code_id, r.driver_id, r.payload, r.fuel_type, r.max_amount, r.currency, r.station_id, r.expire_time, r.create_time],
  ))!;
}

export async function getQr(db: Pool | Tx, id: string): Promise<QrRow | undefined> {
  return await one<QrRow>(db, `SELECT * FROM transaction.qr_codes WHERE qr_code_id = $1`, [id]);
}

export async function countRecentQrs(db: Pool | Tx, driverId: string, since: Date): Promise<number> {
  const r = await one<{ n: number }>(db, `SELECT count(*)::int AS n FROM transaction.qr_codes WHERE driver_id = $1 AND create_time >= $2`, [driverId, since]);
  return r?.n ?? 0;
}

export type NewTxn = Pick<TxnRow,
  "transaction_id" | "state" | "driver_id" | "agency_id" | "station_id" | "merchant_id" | "pump_id" | "qr_code_id" | "fuel_type" |
  "currency" | "requested_amount" | "decline_reason" | "hold_request" | "authorized_price" | "terminal_reference" | "create_time" |
  "update_time" | "recover_after" | "requested_volume_ml">;

/** The idempotency key a keyed call claims with its intent: the key row is the intent's record. */
export interface KeyClaim {
  scope: string;
  key: string;
  requestHash: string;
}

/**
 * Authorize's intent, in one statement: consumes the QR (ACTIVE and issued to the
 * transaction's driver → USED, with the transaction id and `create_time` as its use time),
 * inserts the transaction, and claims the idempotency key for it. undefined — and nothing
 * written — when the QR was not so. A key already taken fails the whole statement (UNIQUE_VIOLATION): no QR is
 * consumed for a request whose key belongs to another.
 */
const NEW_TXN_TYPES: Record<keyof NewTxn, string> = {
  transaction_id: "uuid", state: "text", driver_id: "uuid", agency_id: "uuid", station_id: "uuid", merchant_id: "uuid",
  pump_id: "text", qr_code_id: "uuid", fuel_type: "int4", currency: "text", requested_amount: "int8", decline_reason: "int4",
  hold_request: "bytea", authorized_price: "int8", terminal_reference: "text", create_time: "timestamptz",
  update_time: "timestamptz", recover_after: "timestamptz", requested_volume_ml: "int8",
};

export async function startTransaction(db: Pool | Tx, qrCodeId: string, claim: KeyClaim, r: NewTxn): Promise<TxnRow | undefined> {
  checkInitial(r.state);
  const cols = Object.keys(r);
  const vals = Object.values(r);
  const n = vals.length;
  return await one<TxnRow>(
    db,
    `WITH q AS (UPDATE transaction.qr_codes SET status = 'USED', use_time = $${n + 5}::timestamptz, transaction_id = $${n + 6}::uuid
                 WHERE qr_code_id = $${n + 1} AND status = 'ACTIVE' AND driver_id = $${n + 7}::uuid RETURNING 1),
          ins AS (INSERT INTO transaction.transactions (${cols.join(", ")})
                  SELECT ${cols.map((c, i) => `$${i + 1}::${NEW_TXN_TYPES[c as keyof NewTxn]}`).join(", ")} WHERE EXISTS (SELECT 1 FROM q)
                  RETURNING *),
          k AS (INSERT INTO ${IDEMPOTENCY_TABLE} (scope, key, request_hash, transaction_id)
                  SELECT $${n + 2}, $${n + 3}, $${n + 4}, ins.transaction_id FROM ins RETURNING 1),
          ${declineNotice("ins", `$${n + 8}`, `$${n + 9}`)}
     SELECT ins.* FROM ins LEFT JOIN (SELECT count(*) AS claimed FROM k) c ON true LEFT JOIN (SELECT count(*) AS noticed FROM ob) o ON true`,
    [...vals, qrCodeId, claim.scope, claim.key, claim.requestHash, r.create_time, r.transaction_id, r.driver_id, randomUUID(), JSON.stringify(traceCarrier())],
  );
}

/** Who may move a transaction, as conditions on its row (access.ts mayOperate, in SQL). */
export interface Operator {
  stationId: string | null;
  merchantId: string | null;
}

/**
 * What must hold of an AUTHORIZED row for a step to start: the approved amount covers
 * `approvedAtLeast` in `currency` (null: any), the approved volume covers `volumeAtMost`
 * millilitres (null: not asked), and a transaction authorised by volume is settled at its
 * locked price (`price`; null: not a metered price).
 */
export interface StepFits {
  approvedAtLeast: bigint;
  currency: string | null;
  volumeAtMost?: bigint | null;
  price?: bigint | null;
}

/**
 * The intent of Settle or Void, in one statement: moves the row AUTHORIZED → `to` with
 * `patch` if `operator` may and the row `fits`, and claims the idempotency key for it.
 * undefined — nothing written — when the row was not so; a key already taken fails the
 * whole statement (UNIQUE_VIOLATION).
 */
export async function startStep(db: Pool | Tx, id: string, to: State, claim: KeyClaim, operator: Operator, fits: StepFits, patch: TxnPatch): Promise<TxnRow | undefined> {
  checkTransition(["AUTHORIZED"], to);
  const entries = Object.entries(patch).filter(([, v]) => v !== undefined);
  const sets = entries.map(([k], i) => `${k} = $${i + 12}`);
  return await one<TxnRow>(
    db,
    `WITH mv AS (UPDATE transaction.transactions SET state = $2${sets.length ? ", " + sets.join(", ") : ""}
                  WHERE transaction_id = $1 AND state = 'AUTHORIZED' AND approved_amount >= $8 AND ($9::text IS NULL OR currency = $9::text)
                    AND ($6::uuid IS NULL OR station_id = $6::uuid) AND ($7::uuid IS NULL OR merchant_id = $7::uuid)
                    AND ($10::int8 IS NULL OR approved_volume_ml >= $10::int8)
                    AND ($11::int8 IS NULL OR requested_volume_ml = 0 OR authorized_price = $11::int8)
                  RETURNING *),
          k AS (INSERT INTO ${IDEMPOTENCY_TABLE} (scope, key, request_hash, transaction_id)
                  SELECT $3, $4, $5, mv.transaction_id FROM mv RETURNING 1)
     SELECT mv.* FROM mv LEFT JOIN (SELECT count(*) AS claimed FROM k) c ON true`,
    [id, to, claim.scope, claim.key, claim.requestHash, operator.stationId, operator.merchantId, fits.approvedAtLeast, fits.currency,
      fits.volumeAtMost ?? null, fits.price ?? null, ...entries.map(([, v]) => v)],
  );
}

export async function getTransaction(db: Pool | Tx, id: string, lock = false): Promise<TxnRow | undefined> {
  return await one<TxnRow>(db, `SELECT * FROM transaction.transactions WHERE transaction_id = $1${lock ? " FOR UPDATE" : ""}`, [id]);
}

export type TxnPatch = Partial<Omit<TxnRow, "transaction_id" | "state">>;

/**
 * Moves a transaction from one of `from` to `to` with `patch`, atomically (the WHERE on
 * the current state is the guard against two writers). undefined if it was not in `from`.
 */
export async function transition(db: Pool | Tx, id: string, from: State[], to: State, patch: TxnPatch): Promise<TxnRow | undefined> {
  checkTransition(from, to);
  const entries = Object.entries(patch).filter(([, v]) => v !== undefined);
  const sets = entries.map(([k], i) => `${k} = $${i + 4}`);
  return await one<TxnRow>(
    db,
    `UPDATE transaction.transactions SET state = $3${sets.length ? ", " + sets.join(", ") : ""}
      WHERE transaction_id = $1 AND state = ANY($2::text[]) RETURNING *`,
    [id, from, to, ...entries.map(([, v]) => v)],
  );
}

/**
 * The outbox row a decline owes (outbox.ts delivers it), inserted from `source` (a CTE of
 * transaction rows) when its row is DECLINED: the statement that records a decline is the
 * one that owes its notices. Built from the row itself, so the notice says what was
 * recorded. The CTE is named `ob`.
 */
function declineNotice(source: string, outboxIdParam: string, traceParam: string): string {
  return `ob AS (INSERT INTO transaction.outbox (outbox_id, kind, transaction_id, payload, trace_carrier)
                  SELECT ${outboxIdParam}::uuid, 'DECLINE_NOTICE', s.transaction_id,
                         jsonb_build_object('transactionId', s.transaction_id, 'driverId', s.driver_id, 'agencyId', coalesce(s.agency_id::text, ''),
                                            'reason', s.decline_reason, 'fuelType', s.fuel_type, 'amountMinor', s.requested_amount::text,
                                            'currency', s.currency),
                         ${traceParam}::jsonb
                    FROM ${source} s WHERE s.state = 'DECLINED' RETURNING 1)`;
}

/** PENDING → DECLINED with `patch`, and the decline's notices in the outbox, in one statement. */
export async function declinePending(db: Pool | Tx, id: string, patch: TxnPatch): Promise<TxnRow | undefined> {
  checkTransition(["PENDING"], "DECLINED");
  const entries = Object.entries(patch).filter(([, v]) => v !== undefined);
  const sets = entries.map(([k], i) => `${k} = $${i + 4}`);
  return await one<TxnRow>(
    db,
    `WITH mv AS (UPDATE transaction.transactions SET state = 'DECLINED'${sets.length ? ", " + sets.join(", ") : ""}
                  WHERE transaction_id = $1 AND state = 'PENDING' RETURNING *),
          ${declineNotice("mv", "$2", "$3")}
     SELECT mv.* FROM mv LEFT JOIN (SELECT count(*) AS noticed FROM ob) o ON true`,
    [id, randomUUID(), JSON.stringify(traceCarrier()), ...entries.map(([, v]) => v)],
  );
}

/** `transition`, and in the same statement stores `response` on the idempotency key (scope, key) if the row moved: a call's answer is kept by the move that brings its row to rest. */
export async function transitionStoring(db: Pool | Tx, id: string, from: State[], to: State, scope: string, key: string, response: Uint8Array, patch: TxnPatch): Promise<TxnRow | undefined> {
  checkTransition(from, to);
  const entries = Object.entries(patch).filter(([, v]) => v !== undefined);
  const sets = entries.map(([k], i) => `${k} = $${i + 7}`);
  return await one<TxnRow>(
    db,
    `WITH mv AS (UPDATE transaction.transactions SET state = $3${sets.length ? ", " + sets.join(", ") : ""}
                  WHERE transaction_id = $1 AND state = ANY($2::text[]) RETURNING *),
          st AS (UPDATE ${IDEMPOTENCY_TABLE} k SET response = $6 FROM mv
                  WHERE k.scope = $4 AND k.key = $5 RETURNING 1)
     SELECT mv.* FROM mv LEFT JOIN (SELECT count(*) AS stored FROM st) x ON true`,
    [id, from, to, scope, key, Buffer.from(response), ...entries.map(([, v]) => v)],
  );
}

export async function patchTransaction(db: Pool | Tx, id: string, patch: TxnPatch): Promise<TxnRow | undefined> {
  const entries = Object.entries(patch).filter(([, v]) => v !== undefined);
  const sets = entries.map(([k], i) => `${k} = $${i + 2}`);
  return await one<TxnRow>(db, `UPDATE transaction.transactions SET ${sets.join(", ")} WHERE transaction_id = $1 RETURNING *`, [id, ...entries.map(([, v]) => v)]);
}

// --- idempotency keys (a key row is inserted by the intent it guards: startTransaction, startStep) ---

export interface KeyRow {
  scope: string;
  key: string;
  request_hash: string;
  response: Buffer | null;
  transaction_id: string | null;
}

export async function keyRow(db: Pool | Tx, scope: string, key: string): Promise<KeyRow | undefined> {
  return await one<KeyRow>(db, `SELECT scope, key, request_hash, response, transaction_id FROM ${IDEMPOTENCY_TABLE} WHERE scope = $1 AND key = $2`, [scope, key]);
}

export async function storeResponse(db: Pool | Tx, scope: string, key: string, response: Uint8Array): Promise<void> {
  await db.query(`UPDATE ${IDEMPOTENCY_TABLE} SET response = $3 WHERE scope = $1 AND key = $2`, [scope, key, Buffer.from(response)]);
}

export async function dropKey(db: Pool | Tx, scope: string, key: string): Promise<void> {
  await db.query(`DELETE FROM ${IDEMPOTENCY_TABLE} WHERE scope = $1 AND key = $2 AND (response IS NULL OR length(response) = 0)`, [scope, key]);
}

// --- listing ---

export interface ListFilter {
  driverId?: string;
  agencyId?: string;
  stationId?: string;
  merchantId?: string;
  bankId?: string;
  creditLineId?: string;
  states?: State[];
  start?: Date;
  end?: Date;
  after?: { time: Date; id: string };
  limit: number;
}

export async function listTransactions(db: Pool, f: ListFilter): Promise<TxnRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (sql: string, v: unknown) => {
    params.push(v);
    where.push(sql.replace("?", `$${params.length}`));
  };
  if (f.driverId) add("driver_id = ?", f.driverId);
  if (f.agencyId) add("agency_id = ?", f.agencyId);
  if (f.stationId) add("station_id = ?", f.stationId);
  if (f.merchantId) add("merchant_id = ?", f.merchantId);
  if (f.bankId) add("bank_id = ?", f.bankId);
  if (f.creditLineId) add("credit_line_id = ?", f.creditLineId);
  if (f.states) add("state = ANY(?::text[])", f.states);
  if (f.start) add("create_time >= ?", f.start);
  if (f.end) add("create_time < ?", f.end);
  if (f.after) {
    params.push(f.after.time, f.after.id);
    where.push(`(create_time, transaction_id) < ($${params.length - 1}, $${params.length}::uuid)`);
  }
  params.push(f.limit);
  return await many<TxnRow>(
    db,
    `SELECT * FROM transaction.transactions ${where.length ? "WHERE " + where.join(" AND ") : ""}
      ORDER BY create_time DESC, transaction_id DESC LIMIT $${params.length}`,
    params,
  );
}

// --- recovery ---

/**
 * Claims up to `limit` transactions the sweeper should look at now: unfinished steps, and
 * authorisations whose hold has expired. Each claim pushes `recover_after` out by `leaseMs`
 * so replicas running the sweeper at once do not pick the same row.
 */
export async function claimDue(db: Pool, now: Date, leaseMs: number, limit: number): Promise<TxnRow[]> {
  return await many<TxnRow>(
    db,
    `UPDATE transaction.transactions t SET recover_after = $2, recover_attempts = t.recover_attempts + 1
      WHERE t.transaction_id IN (
        SELECT transaction_id FROM transaction.transactions
         WHERE state = ANY($4::text[]) AND recover_after <= $1
         ORDER BY recover_after LIMIT $3 FOR UPDATE SKIP LOCKED)
      RETURNING t.*`,
    [now, new Date(now.getTime() + leaseMs), limit, SWEPT],
  );
}
