// LoanService SQL. Every statement names its schema (loan.*): the embedded database runs
// one shared session, so nothing may rely on search_path.
import { many, one, type Pool, type Tx } from "../../platform/db.js";

type Db = Pool | Tx;

export interface ProductRow {
  product_id: string;
  bank_id: string;
  name: string;
  currency: string;
  fee_fixed: bigint;
  fee_bps: number;
  daily_interest_bps: number;
  term_days: number;
  default_after_days: number;
  reminder_days_before_due: number;
  is_default: boolean;
  status: "ACTIVE" | "RETIRED";
  version: bigint;
  create_time: Date;
  update_time: Date;
}

export type StatusName = "ACTIVE" | "OVERDUE" | "DEFAULTED" | "PAID_OFF";

export interface LoanRow {
  loan_id: string;
  transaction_id: string;
  settlement_hash: string;
  driver_id: string;
  agency_id: string | null;
  bank_id: string;
  credit_line_id: string;
  product_id: string;
  currency: string;
  principal: bigint;
  fee: bigint;
  daily_interest_bps: number;
  term_days: number;
  default_after_days: number;
  reminder_days_before_due: number;
  disburse_time: Date;
  due_time: Date;
  status: StatusName;
  paid_off_time: Date | null;
  default_time: Date | null;
  reminder_sent_time: Date | null;
  borrower_user_id: string | null;
  version: bigint;
  create_time: Date;
  update_time: Date;
}

export interface RepaymentRow {
  repayment_id: string;
  seq: bigint;
  loan_id: string;
  bank_id: string;
  currency: string;
  amount: bigint;
  fee_part: bigint;
  interest_part: bigint;
  principal_part: bigint;
  balance_after: bigint;
  source: "PAYMENT" | "BANK_RECORDED";
  payment_id: string | null;
  external_reference: string | null;
  receive_time: Date;
  create_time: Date;
  recorded_by: string;
  credit_restored: boolean;
}

export interface StatusChangeRow {
  loan_id: string;
  from_status: StatusName;
  to_status: StatusName;
  change_time: Date;
}

// ---- products ----

export async function insertProduct(tx: Tx, p: Omit<ProductRow, "version" | "update_time">): Promise<ProductRow> {
  return (await one<ProductRow>(
    tx,
    `INSERT INTO loan.products (product_id, bank_id, name, currency, fee_fixed, fee_bps, daily_interest_bps, term_days,
       default_after_days, reminder_days_before_due, is_default, status, create_time, update_time)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$13) RETURNING *`,
    [p.product_id, p.bank_id, p.name, p.currency, p.fee_fixed, p.fee_bps, p.daily_interest_bps, p.term_days,
      p.default_after_days, p.reminder_days_before_due, p.is_default, p.status, p.create_time],
  ))!;
}

export async function clearDefault(tx: Tx, bankId: string, currency: string, exceptId: string, now: Date): Promise<void> {
  await tx.query(
    `UPDATE loan.products SET is_default = false, version = version + 1, update_time = $4
      WHERE bank_id = $1 AND currency = $2 AND is_default AND product_id <> $3`,
    [bankId, currency, exceptId, now],
  );
}

export async function getProduct(db: Db, productId: string, forUpdate = false): Promise<ProductRow | undefined> {
  return await one<ProductRow>(db, `SELECT * FROM loan.products WHERE product_id = $1${forUpdate ? " FOR UPDATE" : ""}`, [productId]);
}

export async function defaultProduct(db: Db, bankId: string, currency: string): Promise<ProductRow | undefined> {
  return await one<ProductRow>(
    db,
    `SELECT * FROM loan.products WHERE bank_id = $1 AND currency = $2 AND is_default AND status = 'ACTIVE'`,
    [bankId, currency],
  );
}

export async function updateProduct(tx: Tx, productId: string, set: Partial<ProductRow>, now: Date): Promise<ProductRow> {
  const cols = Object.keys(set) as (keyof ProductRow)[];
  const params: unknown[] = [productId, now];
  const assigns = cols.map((c) => {
    params.push(set[c]);
    return `${c} = $${params.length}`;
  });
  return (await one<ProductRow>(
    tx,
    `UPDATE loan.products SET ${[...assigns, "version = version + 1", "update_time = $2"].join(", ")} WHERE product_id = $1 RETURNING *`,
    params,
  ))!;
}

export async function listProducts(
  db: Db,
  f: { bankId: string | null; currency: string | null; status: string | null; after: { t: string; id: string } | null; limit: number },
): Promise<ProductRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (sql: string, v: unknown) => {
    params.push(v);
    where.push(sql.replace("?", `$${params.length}`));
  };
  if (f.bankId) add("bank_id = ?", f.bankId);
  if (f.currency) add("currency = ?", f.currency);
  if (f.status) add("status = ?", f.status);
  if (f.after) {
    params.push(f.after.t, f.after.id);
    where.push(`(create_time, product_id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
  }
  params.push(f.limit);
  return await many<ProductRow>(
    db,
    `SELECT * FROM loan.products ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
      ORDER BY create_time DESC, product_id DESC LIMIT $${params.length}`,
    params,
  );
}

// ---- loans ----

export async function insertLoan(tx: Tx, l: Omit<LoanRow, "version" | "update_time" | "paid_off_time" | "default_time" | "reminder_sent_time" | "borrower_user_id">): Promise<LoanRow | undefined> {
  return await one<LoanRow>(
    tx,
    `INSERT INTO loan.loans (loan_id, transaction_id, settlement_hash, driver_id, agency_id, bank_id, credit_line_id, product_id,
       currency, principal, fee, daily_interest_bps, term_days, default_after_days, reminder_days_before_due,
       disburse_time, due_time, status, create_time, update_time)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$19)
     ON CONFLICT (transaction_id) DO NOTHING RETURNING *`,
    [l.loan_id, l.transaction_id, l.settlement_hash, l.driver_id, l.agency_id, l.bank_id, l.credit_line_id, l.product_id,
      l.currency, l.principal, l.fee, l.daily_interest_bps, l.term_days, l.default_after_days, l.reminder_days_before_due,
      l.disburse_time, l.due_time, l.status, l.create_time],
  );
}

export async function loanByTransaction(db: Db, transactionId: string): Promise<LoanRow | undefined> {
  return await one<LoanRow>(db, `SELECT * FROM loan.loans WHERE transaction_id = $1`, [transactionId]);
}

export async function getLoan(db: Db, loanId: string, lock: "" | "FOR UPDATE" = ""): Promise<LoanRow | undefined> {
  return await one<LoanRow>(db, `SELECT * FROM loan.loans WHERE loan_id = $1 ${lock}`, [loanId]);
}

export interface LoanFilter {
  scope: { column: "driver_id" | "agency_id" | "bank_id"; value: string } | null;
  driverId: string | null;
  agencyId: string | null;
  creditLineId: string | null;
  statuses: string[];
  start: Date | null;
  end: Date | null;
  after: { t: string; id: string } | null;
  limit: number;
}

export async function listLoans(db: Db, f: LoanFilter): Promise<LoanRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (sql: string, v: unknown) => {
    params.push(v);
    where.push(sql.replaceAll("?", `$${params.length}`));
  };
  if (f.scope) add(`${f.scope.column} = ?`, f.scope.value);
  if (f.driverId) add("driver_id = ?", f.driverId);
  if (f.agencyId) add("agency_id = ?", f.agencyId);
  if (f.creditLineId) add("credit_line_id = ?", f.creditLineId);
  if (f.statuses.length) add("status = ANY(?::text[])", f.statuses);
  if (f.start) add("disburse_time >= ?", f.start);
  if (f.end) add("disburse_time < ?", f.end);
  if (f.after) {
    params.push(f.after.t, f.after.id);
    where.push(`(disburse_time, loan_id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
  }
  params.push(f.limit);
  return await many<LoanRow>(
    db,
    `SELECT * FROM loan.loans ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
      ORDER BY disburse_time DESC, loan_id DESC LIMIT $${params.length}`,
    params,
  );
}

/**
 * One page of open loans in loan_id order after `after`, within a scope column (bank_id
 * or agency_id, each on its partial index) and optionally one bank.
 */
export async function openLoansPage(
  db: Db,
  f: { scope: { column: "driver_id" | "agency_id" | "bank_id"; value: string } | null; bankId: string | null; after: string; limit: number },
): Promise<LoanRow[]> {
  const where = ["status <> 'PAID_OFF'", "loan_id > $1"];
  const params: unknown[] = [f.after];
  if (f.scope) {
    params.push(f.scope.value);
    where.push(`${f.scope.column} = $${params.length}`);
  }
  if (f.bankId) {
    params.push(f.bankId);
    where.push(`bank_id = $${params.length}`);
  }
  params.push(f.limit);
  return await many<LoanRow>(db, `SELECT * FROM loan.loans WHERE ${where.join(" AND ")} ORDER BY loan_id LIMIT $${params.length}`, params);
}

/** Repayments of the given loans, in replay order (receive time, then recording order). */
export async function repaymentsOf(db: Db, loanIds: string[]): Promise<Map<string, RepaymentRow[]>> {
  const out = new Map<string, RepaymentRow[]>(loanIds.map((id) => [id, []]));
  if (loanIds.length === 0) return out;
  const rows = await many<RepaymentRow>(
    db,
    `SELECT * FROM loan.repayments WHERE loan_id = ANY($1::uuid[]) ORDER BY receive_time, seq`,
    [loanIds],
  );
  for (const r of rows) out.get(r.loan_id)!.push(r);
  return out;
}

export async function statusChangesOf(db: Db, loanId: string): Promise<StatusChangeRow[]> {
  return await many<StatusChangeRow>(
    db,
    `SELECT loan_id, from_status, to_status, change_time FROM loan.status_changes WHERE loan_id = $1 ORDER BY change_time, change_id`,
    [loanId],
  );
}

export async function lastStatusChangeTime(db: Db, loanId: string): Promise<Date | null> {
  return (await one<{ t: Date | null }>(db, `SELECT max(change_time) AS t FROM loan.status_changes WHERE loan_id = $1`, [loanId]))?.t ?? null;
}

export async function insertStatusChange(
  tx: Tx,
  c: { loanId: string; from: StatusName; to: StatusName; time: Date; daysPastDue: number; cause: "AGING" | "REPAYMENT" },
): Promise<void> {
  await tx.query(
    `INSERT INTO loan.status_changes (loan_id, from_status, to_status, change_time, days_past_due, cause) VALUES ($1,$2,$3,$4,$5,$6)`,
    [c.loanId, c.from, c.to, c.time, c.daysPastDue, c.cause],
  );
}

export async function insertRepayment(tx: Tx, r: Omit<RepaymentRow, "seq" | "credit_restored">): Promise<RepaymentRow> {
  return (await one<RepaymentRow>(
    tx,
    `INSERT INTO loan.repayments (repayment_id, loan_id, bank_id, currency, amount, fee_part, interest_part, principal_part,
       balance_after, source, payment_id, external_reference, receive_time, create_time, recorded_by)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15) RETURNING *`,
    [r.repayment_id, r.loan_id, r.bank_id, r.currency, r.amount, r.fee_part, r.interest_part, r.principal_part,
      r.balance_after, r.source, r.payment_id, r.external_reference, r.receive_time, r.create_time, r.recorded_by],
  ))!;
}

export async function externalReferenceUsed(db: Db, bankId: string, ref: string): Promise<boolean> {
  return !!(await one(db, `SELECT 1 FROM loan.repayments WHERE bank_id = $1 AND external_reference = $2`, [bankId, ref]));
}

export async function paymentApplication(db: Db, paymentId: string, loanId: string): Promise<Buffer | undefined> {
  return (await one<{ response: Buffer }>(db, `SELECT response FROM loan.payment_applications WHERE payment_id = $1 AND loan_id = $2`, [paymentId, loanId]))?.response;
}

export async function insertPaymentApplication(tx: Tx, paymentId: string, loanId: string, response: Uint8Array): Promise<void> {
  await tx.query(`INSERT INTO loan.payment_applications (payment_id, loan_id, response) VALUES ($1,$2,$3)`, [paymentId, loanId, Buffer.from(response)]);
}

export async function setLoanStatus(
  tx: Tx,
  loanId: string,
  s: { status: StatusName; now: Date; paidOffTime?: Date; defaultTime?: Date; reminderSentTime?: Date },
): Promise<LoanRow> {
  return (await one<LoanRow>(
    tx,
    `UPDATE loan.loans SET status = $2, update_time = $3, version = version + 1,
        paid_off_time = COALESCE($4, paid_off_time), default_time = COALESCE($5, default_time),
        reminder_sent_time = COALESCE($6, reminder_sent_time)
      WHERE loan_id = $1 RETURNING *`,
    [loanId, s.status, s.now, s.paidOffTime ?? null, s.defaultTime ?? null, s.reminderSentTime ?? null],
  ))!;
}
