// A settlement's loan in one statement: the idempotency key row with the call's answer,
// the loan, and the borrower's notice in the outbox, as one implicit transaction (one
// round trip, one commit), decided on a product read earlier (or not at all: product-terms.ts).
//
// It applies only while the product is still ACTIVE at the version the terms were taken
// from (and still the default, when the default was asked for); otherwise nothing is
// written and the caller answers on the locked path, which reads the product again. The
// key row goes in before the loan, the order the locked path takes them in, so the two
// paths never wait on each other in a cycle. Neither insert skips a conflict: a key
// already taken, or a transaction that already has a loan, fails the whole statement
// (UNIQUE_VIOLATION), and nothing of it stays.
import { IDEMPOTENCY_TABLE } from "./common.js";
import type { NotifyPayload } from "./outbox.js";
import type { LoanRow } from "./store.js";
import type { Pool } from "../../platform/db.js";

/** The key table's primary key: a UNIQUE_VIOLATION on it means the key was taken. */
export const KEY_CONSTRAINT = "idempotency_keys_pkey";

export interface LoanAtOnce {
  loan: LoanRow;
  /** The product the loan's terms were copied from, as read. */
  product: { productId: string; version: bigint; asDefault: boolean };
  notice: { outboxId: string; payload: NotifyPayload; traceCarrier: Record<string, string> };
  key: { scope: string; key: string; requestHash: string; response: Uint8Array };
}

/** Every column a new loan is written with, and its SQL type. */
const LOAN_COLUMNS = [
  ["loan_id", "uuid"], ["transaction_id", "uuid"], ["settlement_hash", "text"], ["driver_id", "uuid"], ["agency_id", "uuid"],
  ["bank_id", "uuid"], ["credit_line_id", "uuid"], ["product_id", "uuid"], ["currency", "text"], ["principal", "int8"], ["fee", "int8"],
  ["daily_interest_bps", "int4"], ["term_days", "int4"], ["default_after_days", "int4"], ["reminder_days_before_due", "int4"],
  ["disburse_time", "timestamptz"], ["due_time", "timestamptz"], ["status", "text"], ["version", "int8"], ["create_time", "timestamptz"],
  ["update_time", "timestamptz"],
] as const satisfies readonly (readonly [keyof LoanRow, string])[];

export function loanAtOnceSql(w: LoanAtOnce): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  const at = (v: unknown, type: string) => `$${values.push(v)}::${type}`;
  const product = `product_id = ${at(w.product.productId, "uuid")} AND version = ${at(w.product.version, "int8")} AND status = 'ACTIVE'${w.product.asDefault ? " AND is_default" : ""}`;
  const key = [at(w.key.scope, "text"), at(w.key.key, "text"), at(w.key.requestHash, "text"), at(Buffer.from(w.key.response), "bytea")].join(", ");
  const loan = LOAN_COLUMNS.map(([c, type]) => at(w.loan[c], type)).join(", ");
  const notice = [at(w.notice.outboxId, "uuid"), at(JSON.stringify(w.notice.payload), "jsonb"), at(JSON.stringify(w.notice.traceCarrier), "jsonb")];
  // Each insert reads the one before it, so they run in this order, and each only if the one before wrote.
  const text = `WITH p AS (SELECT 1 FROM loan.products WHERE ${product}),
     k AS (INSERT INTO ${IDEMPOTENCY_TABLE} (scope, key, request_hash, response)
           SELECT ${key} WHERE EXISTS (SELECT 1 FROM p) RETURNING 1),
     l AS (INSERT INTO loan.loans (${LOAN_COLUMNS.map(([c]) => c).join(", ")})
           SELECT ${loan} WHERE EXISTS (SELECT 1 FROM k) RETURNING loan_id),
     n AS (INSERT INTO loan.outbox (outbox_id, kind, loan_id, payload, trace_carrier)
           SELECT ${notice[0]}, 'NOTIFY', loan_id, ${notice[1]}, ${notice[2]} FROM l RETURNING 1)
SELECT (SELECT count(*) FROM k)::int AS keys, (SELECT count(*) FROM l)::int AS loans, (SELECT count(*) FROM n)::int AS notices`;
  return { text, values };
}

/**
 * Writes the loan, its notice and the key with the answer, if the product is still as
 * read: true when written, false when the product changed (nothing written). Throws
 * UNIQUE_VIOLATION when the key (constraint KEY_CONSTRAINT) or the transaction's loan
 * exists already.
 */
export async function insertLoanAtOnce(pool: Pool, w: LoanAtOnce): Promise<boolean> {
  const { text, values } = loanAtOnceSql(w);
  const row = (await pool.query<{ keys: number; loans: number; notices: number }>(text, values)).rows[0]!;
  if (row.keys === 0) return false;
  if (row.loans !== 1 || row.notices !== 1) throw new Error(`loan written partly: ${row.keys} key, ${row.loans} loan, ${row.notices} notice`);
  return true;
}
