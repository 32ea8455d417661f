// CreditService SQL for policies, assessments, lines and holds (the ledger's SQL is in
// ledger-store.ts). Every table is schema-qualified (credit.*); int8 comes back as bigint.
import { LedgerInvariantError } from "./postings.js";
import { many, one, type Pool, type Tx } from "../../platform/db.js";

type Db = Pool | Tx;

// ---- lines ----------------------------------------------------------------------------

export type LineStatusName = "ACTIVE" | "FROZEN" | "CLOSED";

/**
 * A ledger line: an agency's or a driver's credit line, or a bank program's (PROGRAM,
 * owner_id = its own id), whose counters are the program's. Program lines are never
 * shown as credit lines: getLine and listLines leave them out (programs.ts reads them).
 */
export interface LineRow {
  line_id: string;
  bank_id: string;
  owner_kind: "AGENCY" | "DRIVER" | "PROGRAM";
  owner_id: string;
  parent_id: string | null;
  parent_agency_id: string | null;
  /** The program line this line lends under (a sub-line: its parent's); null: none. */
  program_id: string | null;
  currency: string;
  status: LineStatusName;
  limit_minor: bigint;
  held: bigint;
  used: bigint;
  sub_limit: bigint | null;
  limit_source: number;
  risk_assessment_id: string | null;
  risk_category: number;
  override_reason: string;
  controls: Buffer | null;
  daily_controls: boolean;
  version: bigint;
  status_reason: string;
  frozen_by: "BANK" | "AGENCY" | null;
  create_time: Date;
  update_time: Date;
  close_time: Date | null;
}

export const LINE_COLS = `line_id, bank_id, owner_kind, owner_id, parent_id, parent_agency_id, program_id, currency, status,
  limit_minor, held, used, sub_limit, limit_source, risk_assessment_id, risk_category, override_reason, controls,
  daily_controls, version, status_reason, frozen_by, create_time, update_time, close_time`;

const COLS = LINE_COLS.split(",").map((c) => c.trim());
const lineCols = (alias: string, prefix: string) => COLS.map((c) => `${alias}.${c} AS ${prefix}${c}`).join(", ");

/** A credit line (never a program's ledger line). */
export async function getLine(db: Db, lineId: string): Promise<LineRow | undefined> {
  return await one<LineRow>(db, `SELECT ${LINE_COLS} FROM credit.lines WHERE line_id = $1 AND owner_kind <> 'PROGRAM'`, [lineId]);
}

/** A program's ledger line (its counters; the program's id is its line id). */
export async function getProgramLine(db: Db, programId: string): Promise<LineRow | undefined> {
  return await one<LineRow>(db, `SELECT ${LINE_COLS} FROM credit.lines WHERE line_id = $1 AND owner_kind = 'PROGRAM'`, [programId]);
}

export async function openLineOf(db: Db, kind: "AGENCY" | "DRIVER", ownerId: string): Promise<LineRow | undefined> {
  return await one<LineRow>(db, `SELECT ${LINE_COLS} FROM credit.lines WHERE owner_kind = $1 AND owner_id = $2 AND status <> 'CLOSED'`, [kind, ownerId]);
}

/** A driver's open line, its parent and its program (one round trip). */
export async function driverLineWithParent(db: Db, driverId: string): Promise<{ line: LineRow; parent: LineRow | null; program: LineRow | null } | undefined> {
  const ctx = await holdContext(db, driverId, null);
  return ctx.line ? { line: ctx.line, parent: ctx.parent, program: ctx.program } : undefined;
}

/**
 * What Hold decides on without a lock, in one round trip: the driver's open line, its
 * parent, its program, and the id of the hold already placed for `transactionId`, if any.
 * The write that follows applies only if the lines still fit the decision.
 */
export interface HoldContext {
  line: LineRow | null;
  parent: LineRow | null;
  program: LineRow | null;
  priorHoldId: string | null;
}

export async function holdContext(db: Db, driverId: string, transactionId: string | null): Promise<HoldContext> {
  const row = await one<Record<string, unknown>>(
    db,
    `SELECT ${lineCols("c", "c_")}, ${lineCols("p", "p_")}, ${lineCols("g", "g_")},
            (SELECT hold_id FROM credit.holds WHERE transaction_id = $2::uuid) AS prior_hold_id
       FROM (SELECT 1) one
       LEFT JOIN credit.lines c ON c.owner_kind = 'DRIVER' AND c.owner_id = $1 AND c.status <> 'CLOSED'
       LEFT JOIN credit.lines p ON p.line_id = c.parent_id
       LEFT JOIN credit.lines g ON g.line_id = c.program_id`,
    [driverId, transactionId],
  );
  const split = (prefix: string) => Object.fromEntries(COLS.map((c) => [c, row![prefix + c]])) as unknown as LineRow;
  return {
    line: row?.c_line_id ? split("c_") : null,
    parent: row?.p_line_id ? split("p_") : null,
    program: row?.g_line_id ? split("g_") : null,
    priorHoldId: (row?.prior_hold_id as string | null) ?? null,
  };
}

/**
 * Hold's context inside its transaction, in one round trip: the driver's open line, its
 * parent and its program, locked in the one fixed order every writer uses (root lines first, then
 * sub-lines, each by id) and read as locked, plus the id of the hold already placed for
 * `transactionId`, if any.
 */
export async function lockHoldContext(tx: Tx, driverId: string, transactionId: string): Promise<HoldContext> {
  const rows = await many<LineRow & { prior_hold_id: string | null }>(
    tx,
    // The ids are computed first, as one array (an InitPlan), and the lock's condition
    // is only "id in that array". When a hot parent row was updated while we waited for
    // its lock, PostgreSQL re-checks the condition against the new row version; with the
    // ids as a subquery join that re-check could drop the parent row from the result, and
    // the hold was then placed on the driver's line alone (found by the hot bench).
    `WITH c AS (SELECT line_id, parent_id, program_id FROM credit.lines WHERE owner_kind = 'DRIVER' AND owner_id = $1 AND status <> 'CLOSED'),
          ids AS (SELECT coalesce(array_agg(x), '{}') AS ids FROM (SELECT line_id AS x FROM c UNION ALL SELECT parent_id FROM c WHERE parent_id IS NOT NULL
                                                                   UNION ALL SELECT program_id FROM c WHERE program_id IS NOT NULL) u),
          lk AS (SELECT ${LINE_COLS} FROM credit.lines
                  WHERE line_id = ANY ((SELECT ids FROM ids)::uuid[])
                  ORDER BY (parent_id IS NULL) DESC, line_id FOR UPDATE)
     SELECT lk.*, (SELECT hold_id FROM credit.holds WHERE transaction_id = $2::uuid) AS prior_hold_id
       FROM (SELECT 1) one LEFT JOIN lk ON true`,
    [driverId, transactionId],
  );
  const priorHoldId = rows[0]?.prior_hold_id ?? null;
  const lines = rows.filter((r) => r.line_id).map(({ prior_hold_id: _, ...r }) => r as LineRow);
  const line = lines.find((r) => r.owner_kind === "DRIVER") ?? null;
  const parent = line?.parent_id ? (lines.find((r) => r.line_id === line.parent_id) ?? null) : null;
  const program = line?.program_id ? (lines.find((r) => r.line_id === line.program_id) ?? null) : null;
  // A sub-line without its parent, or a line without its program, would place a hold a
  // level above never sees.
  if (line?.parent_id && !parent) throw new LedgerInvariantError(`line ${line.line_id}: parent ${line.parent_id} was not locked with it`);
  if (line?.program_id && !program) throw new LedgerInvariantError(`line ${line.line_id}: program ${line.program_id} was not locked with it`);
  return { line, parent, program, priorHoldId };
}

/**
 * Locks lines in the one fixed order every writer uses — root (parent) lines first, then
 * sub-lines, each by id — and returns their current state.
 */
export async function lockLines(tx: Tx, ids: string[]): Promise<Map<string, LineRow>> {
  const rows = await many<LineRow>(
    tx,
    `SELECT ${LINE_COLS} FROM credit.lines WHERE line_id = ANY($1::uuid[]) ORDER BY (parent_id IS NULL) DESC, line_id FOR UPDATE`,
    [ids],
  );
  return new Map(rows.map((r) => [r.line_id, r]));
}

export async function insertLine(tx: Tx, r: Omit<LineRow, "held" | "used" | "version" | "status_reason" | "frozen_by" | "close_time" | "update_time">): Promise<LineRow> {
  return (await one<LineRow>(
    tx,
    `INSERT INTO credit.lines (line_id, bank_id, owner_kind, owner_id, parent_id, parent_agency_id, currency, status, limit_minor,
       sub_limit, limit_source, risk_assessment_id, risk_category, override_reason, controls, daily_controls, create_time, update_time, program_id)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$17,$18) RETURNING ${LINE_COLS}`,
    [r.line_id, r.bank_id, r.owner_kind, r.owner_id, r.parent_id, r.parent_agency_id, r.currency, r.status, r.limit_minor,
      r.sub_limit, r.limit_source, r.risk_assessment_id, r.risk_category, r.override_reason, r.controls, r.daily_controls, r.create_time, r.program_id],
  ))!;
}

/** Changes a line's settings (not its counters) if its version is still `expected`. */
export async function updateLineIfVersion(
  tx: Tx,
  lineId: string,
  expected: bigint,
  set: Record<string, unknown>,
  now: Date,
): Promise<LineRow | undefined> {
  const keys = Object.keys(set);
  const assignments = keys.map((k, i) => `${k} = $${i + 4}`).join(", ");
  return await one<LineRow>(
    tx,
    `UPDATE credit.lines SET ${assignments}${keys.length ? "," : ""} version = version + 1, update_time = $3
      WHERE line_id = $1 AND version = $2 RETURNING ${LINE_COLS}`,
    [lineId, expected, now, ...keys.map((k) => set[k])],
  );
}

export async function subLinesOf(db: Db, parentId: string, openOnly: boolean): Promise<LineRow[]> {
  return await many<LineRow>(
    db,
    `SELECT ${LINE_COLS} FROM credit.lines WHERE parent_id = $1 ${openOnly ? "AND status <> 'CLOSED'" : ""} ORDER BY line_id`,
    [parentId],
  );
}

export interface LineFilter {
  /** Scope from the caller's identity (already decided). */
  scopeBankId?: string;
  scopeAgencyId?: string;
  scopeDriverId?: string;
  bankId?: string;
  agencyId?: string;
  includeSubLines?: boolean;
  driverId?: string;
  parentId?: string;
  statuses?: LineStatusName[];
  after?: { time: Date; id: string } | null;
  limit: number;
}

export async function listLines(db: Db, f: LineFilter): Promise<LineRow[]> {
  const where: string[] = [`owner_kind <> 'PROGRAM'`];
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (f.scopeBankId) where.push(`bank_id = ${p(f.scopeBankId)}`);
  if (f.scopeAgencyId) {
    const a = p(f.scopeAgencyId);
    where.push(`((owner_kind = 'AGENCY' AND owner_id = ${a}) OR parent_agency_id = ${a})`);
  }
  if (f.scopeDriverId) where.push(`owner_kind = 'DRIVER' AND owner_id = ${p(f.scopeDriverId)}`);
  if (f.bankId) where.push(`bank_id = ${p(f.bankId)}`);
  if (f.agencyId) {
    const a = p(f.agencyId);
    where.push(f.includeSubLines ? `((owner_kind = 'AGENCY' AND owner_id = ${a}) OR parent_agency_id = ${a})` : `owner_kind = 'AGENCY' AND owner_id = ${a}`);
  }
  if (f.driverId) where.push(`owner_kind = 'DRIVER' AND owner_id = ${p(f.driverId)}`);
  if (f.parentId) where.push(`parent_id = ${p(f.parentId)}`);
  if (f.statuses && f.statuses.length > 0) where.push(`status = ANY(${p(f.statuses)}::text[])`);
  if (f.after) where.push(`(create_time, line_id) < (${p(f.after.time)}, ${p(f.after.id)}::uuid)`);
  return await many<LineRow>(
    db,
    `SELECT ${LINE_COLS} FROM credit.lines ${where.length ? "WHERE " + where.join(" AND ") : ""}
      ORDER BY create_time DESC, line_id DESC LIMIT ${p(f.limit + 1)}`,
    params,
  );
}

/** Today's totals for the daily limits: pending at their amount, captured at the captured amount. */
export async function dailyTotals(db: Db, lineId: string, asParent: boolean, start: Date, end: Date): Promise<{ amount: bigint; count: number }> {
  const col = asParent ? "parent_line_id" : "line_id";
  const row = await one<{ amount: bigint; count: number }>(
    db,
    `SELECT coalesce(sum(CASE status WHEN 'PENDING' THEN amount WHEN 'CAPTURED' THEN captured_amount ELSE 0 END), 0)::bigint AS amount,
            count(*)::int AS count
       FROM credit.holds WHERE ${col} = $1 AND create_time >= $2 AND create_time < $3`,
    [lineId, start, end],
  );
  return row ?? { amount: 0n, count: 0 };
}

// ---- holds ----------------------------------------------------------------------------

export type HoldStatusName = "PENDING" | "CAPTURED" | "VOIDED" | "EXPIRED";

export interface HoldRow {
  hold_id: string;
  line_id: string;
  parent_line_id: string | null;
  /** The program line the hold also reserves on; null: the line is in no program. */
  program_line_id: string | null;
  driver_id: string;
  transaction_id: string;
  request_hash: string;
  status: HoldStatusName;
  currency: string;
  amount: bigint;
  requested_amount: bigint;
  captured_amount: bigint;
  released_amount: bigint;
  station_id: string | null;
  merchant_id: string | null;
  fuel_type: number;
  expire_time: Date;
  create_time: Date;
  resolve_time: Date | null;
  hold_entry_id: string;
  resolve_entry_id: string | null;
}

export const HOLD_COLS = `hold_id, line_id, parent_line_id, driver_id, transaction_id, request_hash, status, currency, amount,
  requested_amount, captured_amount, released_amount, station_id, merchant_id, fuel_type, expire_time, create_time,
  resolve_time, hold_entry_id, resolve_entry_id, program_line_id`;

export async function getHold(db: Db, holdId: string): Promise<HoldRow | undefined> {
  return await one<HoldRow>(db, `SELECT ${HOLD_COLS} FROM credit.holds WHERE hold_id = $1`, [holdId]);
}

export async function holdOfTransaction(db: Db, transactionId: string): Promise<HoldRow | undefined> {
  return await one<HoldRow>(db, `SELECT ${HOLD_COLS} FROM credit.holds WHERE transaction_id = $1`, [transactionId]);
}

/**
 * The holds on `line`, newest first, `limit` + 1 rows (the extra one says a next page
 * exists). An agency's line carries its drivers' holds as their parent; each side reads
 * its own index.
 */
export async function listHolds(
  db: Db,
  line: Pick<LineRow, "line_id" | "owner_kind">,
  f: { statuses: string[]; after: { time: Date; id: string } | null; limit: number },
): Promise<HoldRow[]> {
  const column = line.owner_kind === "AGENCY" ? "parent_line_id" : "line_id";
  return await many<HoldRow>(
    db,
    `SELECT ${HOLD_COLS} FROM credit.holds
      WHERE ${column} = $1
        AND (cardinality($2::text[]) = 0 OR status = ANY($2::text[]))
        AND ($3::timestamptz IS NULL OR (create_time, hold_id) < ($3, $4::uuid))
      ORDER BY create_time DESC, hold_id DESC LIMIT $5`,
    [line.line_id, f.statuses, f.after?.time ?? null, f.after?.id ?? null, f.limit + 1],
  );
}

/** A hold of a transaction with its line's bank (a line's bank never changes). */
export async function holdOfTransactionWithBank(db: Db, transactionId: string): Promise<(HoldRow & { bank_id: string }) | undefined> {
  return await one<HoldRow & { bank_id: string }>(
    db,
    `SELECT ${HOLD_COLS.split(",").map((c) => `h.${c.trim()}`).join(", ")}, l.bank_id
       FROM credit.holds h JOIN credit.lines l ON l.line_id = h.line_id WHERE h.transaction_id = $1`,
    [transactionId],
  );
}

/**
 * Resolves a PENDING hold, exactly once: the conditional update is the claim, so of two
 * concurrent resolutions only one gets the row back.
 */
export async function resolveHold(
  tx: Tx,
  holdId: string,
  to: Exclude<HoldStatusName, "PENDING">,
  captured: bigint,
  entryId: string,
  now: Date,
  notExpiredAt: Date | null,
): Promise<HoldRow | undefined> {
  return await one<HoldRow>(
    tx,
    `UPDATE credit.holds SET status = $2, captured_amount = $3, released_amount = amount - $3, resolve_entry_id = $4, resolve_time = $5
      WHERE hold_id = $1 AND status = 'PENDING' AND amount >= $3 AND ($6::timestamptz IS NULL OR expire_time > $6)
      RETURNING ${HOLD_COLS}`,
    [holdId, to, captured, entryId, now, notExpiredAt],
  );
}

/** Claims up to `max` overdue PENDING holds as EXPIRED (SKIP LOCKED: concurrent sweeps split the work). */
export async function claimExpired(tx: Tx, now: Date, max: number): Promise<HoldRow[]> {
  return await many<HoldRow>(
    tx,
    `UPDATE credit.holds h SET status = 'EXPIRED', released_amount = h.amount, resolve_time = $1, resolve_entry_id = gen_random_uuid()
      WHERE h.hold_id IN (SELECT hold_id FROM credit.holds WHERE status = 'PENDING' AND expire_time <= $1
                          ORDER BY expire_time LIMIT $2 FOR UPDATE SKIP LOCKED)
        AND h.status = 'PENDING'
      RETURNING ${HOLD_COLS.split(",").map((c) => "h." + c.trim()).join(", ")}`,
    [now, max],
  );
}

export async function moreExpired(db: Db, now: Date): Promise<boolean> {
  return !!(await one(db, `SELECT 1 FROM credit.holds WHERE status = 'PENDING' AND expire_time <= $1 LIMIT 1`, [now]));
}

// ---- policies -------------------------------------------------------------------------

export interface PolicyRow {
  bank_id: string;
  currency: string;
  max_low: bigint | null;
  max_medium: bigint | null;
  max_high: bigint | null;
  version: bigint;
  updated_by: string;
  update_time: Date;
}

export async function getPolicy(db: Db, bankId: string, currency: string): Promise<PolicyRow | undefined> {
  return await one<PolicyRow>(db, `SELECT * FROM credit.policies WHERE bank_id = $1 AND currency = $2`, [bankId, currency]);
}

export async function insertPolicy(tx: Tx, r: PolicyRow): Promise<PolicyRow | undefined> {
  return await one<PolicyRow>(
    tx,
    `INSERT INTO credit.policies (bank_id, currency, max_low, max_medium, max_high, version, updated_by, update_time)
     VALUES ($1,$2,$3,$4,$5,1,$6,$7) ON CONFLICT (bank_id, currency) DO NOTHING RETURNING *`,
    [r.bank_id, r.currency, r.max_low, r.max_medium, r.max_high, r.updated_by, r.update_time],
  );
}

export async function updatePolicy(tx: Tx, r: PolicyRow, expected: bigint): Promise<PolicyRow | undefined> {
  return await one<PolicyRow>(
    tx,
    `UPDATE credit.policies SET max_low = $3, max_medium = $4, max_high = $5, version = version + 1, updated_by = $6, update_time = $7
      WHERE bank_id = $1 AND currency = $2 AND version = $8 RETURNING *`,
    [r.bank_id, r.currency, r.max_low, r.max_medium, r.max_high, r.updated_by, r.update_time, expected],
  );
}

// ---- assessments ----------------------------------------------------------------------

export interface AssessmentRow {
  assessment_id: string;
  subject_kind: "DRIVER" | "AGENCY";
  subject_id: string;
  category: number;
  requested_by_bank_id: string | null;
  assess_time: Date;
  body: Buffer;
}

export async function insertAssessment(db: Db, r: AssessmentRow): Promise<void> {
  await db.query(
    `INSERT INTO credit.assessments (assessment_id, subject_kind, subject_id, category, requested_by_bank_id, assess_time, body)
     VALUES ($1,$2,$3,$4,$5,$6,$7)`,
    [r.assessment_id, r.subject_kind, r.subject_id, r.category, r.requested_by_bank_id, r.assess_time, r.body],
  );
}

export async function latestAssessment(db: Db, kind: string, subjectId: string, since: Date): Promise<AssessmentRow | undefined> {
  return await one<AssessmentRow>(
    db,
    `SELECT * FROM credit.assessments WHERE subject_kind = $1 AND subject_id = $2 AND assess_time >= $3
      ORDER BY assess_time DESC, assessment_id DESC LIMIT 1`,
    [kind, subjectId, since],
  );
}

/**
 * A subject's assessments, newest first. `bankId` null: all of them (system admins);
 * else only those the bank asked for or that back one of its lines.
 */
export async function listAssessments(
  db: Db,
  kind: string,
  subjectId: string,
  bankId: string | null,
  after: { time: Date; id: string } | null,
  limit: number,
): Promise<AssessmentRow[]> {
  return await many<AssessmentRow>(
    db,
    `SELECT * FROM credit.assessments a WHERE subject_kind = $1 AND subject_id = $2
        AND ($3::timestamptz IS NULL OR (assess_time, assessment_id) < ($3, $4::uuid))
        AND ($6::uuid IS NULL OR a.requested_by_bank_id = $6
             OR EXISTS (SELECT 1 FROM credit.lines l WHERE l.bank_id = $6 AND l.risk_assessment_id = a.assessment_id))
      ORDER BY assess_time DESC, assessment_id DESC LIMIT $5`,
    [kind, subjectId, after?.time ?? null, after?.id ?? null, limit + 1, bankId],
  );
}

/** Whether a bank may see a subject's assessments: it asked for one, or lends to the subject. */
export async function bankKnowsSubject(db: Db, bankId: string, kind: string, subjectId: string): Promise<boolean> {
  const row = await one(
    db,
    `SELECT 1 WHERE EXISTS (SELECT 1 FROM credit.assessments WHERE subject_kind = $2 AND subject_id = $3 AND requested_by_bank_id = $1)
        OR EXISTS (SELECT 1 FROM credit.lines WHERE bank_id = $1 AND owner_kind = $2 AND owner_id = $3)`,
    [bankId, kind, subjectId],
  );
  return !!row;
}

/** Own-ledger facts for the scorecard: utilisation of the open line, settled purchases in 90 days. */
export async function ledgerFacts(db: Db, kind: "DRIVER" | "AGENCY", subjectId: string, since: Date): Promise<{ utilisationBps: number | null; settled90d: number }> {
  const line = await openLineOf(db, kind, subjectId);
  let utilisationBps: number | null = null;
  if (line && line.limit_minor > 0n) utilisationBps = Number(((line.held + line.used) * 10000n) / line.limit_minor);
  else if (line) utilisationBps = line.held + line.used > 0n ? 10000 : 0;
  const col = kind === "DRIVER" ? "driver_id" : "parent_line_id";
  let settled90d = 0;
  if (kind === "DRIVER" || line) {
    const r = await one<{ n: number }>(
      db,
      `SELECT count(*)::int AS n FROM credit.holds WHERE ${col} = $1 AND status = 'CAPTURED' AND captured_amount > 0 AND create_time >= $2`,
      [kind === "DRIVER" ? subjectId : line!.line_id, since],
    );
    settled90d = r?.n ?? 0;
  }
  return { utilisationBps, settled90d };
}
