// The ledger's SQL: a movement = balanced journal entries + the counter changes they
// imply, written in one statement inside the caller's transaction; listing entries; and
// the recomputation behind VerifyLedger.
import { JournalEntryKind } from "../../gen/fuel/credit/v1/ledger_pb.js";
import { many, type Pool, type Tx } from "../../platform/db.js";
import { assertBalanced, counterDeltas, LedgerInvariantError, type PostingDraft } from "./postings.js";
import { HOLD_COLS, LINE_COLS, type HoldRow, type LineRow } from "./store.js";

type Db = Pool | Tx;

export interface EntryDraft {
  entryId: string;
  kind: JournalEntryKind;
  currency: string;
  holdId?: string | null;
  transactionId?: string | null;
  loanId?: string | null;
  repaymentId?: string | null;
  description: string;
  actorId: string;
  postings: PostingDraft[];
}

/** The columns of credit.holds, in HOLD_COLS order, each with its SQL array type (for unnest). */
const HOLD_FIELDS = HOLD_COLS.split(",").map((c) => c.trim()) as (keyof HoldRow)[];
const HOLD_TYPES: Record<keyof HoldRow, string> = {
  hold_id: "uuid", line_id: "uuid", parent_line_id: "uuid", driver_id: "uuid", transaction_id: "uuid", request_hash: "text",
  status: "text", currency: "text", amount: "int8", requested_amount: "int8", captured_amount: "int8", released_amount: "int8",
  station_id: "uuid", merchant_id: "uuid", fuel_type: "int2", expire_time: "timestamptz", create_time: "timestamptz",
  resolve_time: "timestamptz", hold_entry_id: "uuid", resolve_entry_id: "uuid", program_line_id: "uuid",
};

/**
 * A line as a hold decided on it: the decision stands if the line has not changed since
 * (`version`), or if only its counters moved and it still has `needs` available, it has no
 * daily limits (which count other holds) and its status and controls are as read.
 */
export interface LineFit {
  version: bigint;
  status: string;
  controls: Buffer | null;
  dailyControls: boolean;
  needs: bigint;
}

/** An idempotency key row claimed with its call's answer. */
export interface KeyClaim {
  table: string;
  scope: string;
  key: string;
  requestHash: string;
  response: Uint8Array;
}

/**
 * What makes a movement conditional (writeMovementIfUnchanged): the versions its lines had
 * when the decision was made, and the idempotency key rows to claim with it (one per
 * call the movement answers: several when holds are written as one batch).
 */
export interface MovementGuard {
  /** What each line must still be for a decision made on it unlocked to stand (a new hold). */
  fits?: Map<string, LineFit>;
  /** The PENDING, unexpired hold this movement resolves (capture, void): claimed first, in the same statement. */
  resolves?: { holdId: string; to: "CAPTURED" | "VOIDED"; captured: bigint; entryId: string };
  keys: KeyClaim[];
}

/**
 * Writes `entries` and applies their counter changes to the lines they touch, in one
 * statement. Lines are locked first, in the fixed order (root lines, then sub-lines, by
 * id), before any is changed. Each entry is asserted balanced before anything is sent.
 * Returns the changed lines. With `newHold`, the same statement also inserts that hold row
 * (the HOLD entry that reserves its amount is among `entries`).
 */
export async function writeMovement(tx: Tx, entries: EntryDraft[], now: Date, newHold?: HoldRow): Promise<Map<string, LineRow>> {
  if (entries.length === 0) return new Map();
  const { text, values, lines } = movementSql(entries, now, newHold ? [newHold] : []);
  const res = await tx.query<LineRow>(text, values);
  if (res.rows.length !== lines) throw new LedgerInvariantError(`expected ${lines} lines updated, got ${res.rows.length}`);
  return new Map(res.rows.map((r) => [r.line_id, r]));
}

/**
 * `writeMovement` as one statement of its own, for a decision made on lines read without
 * a lock: it applies only if every line still fits the decision (LineFit), and then also
 * claims the idempotency key with the call's answer. null — nothing written — when a line
 * no longer fits (decide again, under the lock). A key already taken fails the whole
 * statement (UNIQUE_VIOLATION), as does a second hold of the same transaction.
 */
export async function writeMovementIfUnchanged(db: Db, entries: EntryDraft[], now: Date, newHolds: HoldRow[], guard: MovementGuard): Promise<Map<string, LineRow> | null> {
  const { text, values, lines } = movementSql(entries, now, newHolds, guard);
  const res = await db.query<LineRow>(text, values);
  if (res.rows.length === 0) return null;
  if (res.rows.length !== lines) throw new LedgerInvariantError(`expected ${lines} lines updated, got ${res.rows.length}`);
  return new Map(res.rows.map((r) => [r.line_id, r]));
}

function movementSql(entries: EntryDraft[], now: Date, newHolds: HoldRow[], guard?: MovementGuard): { text: string; values: unknown[]; lines: number } {
  const all: PostingDraft[] = [];
  for (const e of entries) all.push(...assertBalanced(e.postings));
  const deltas = [...counterDeltas(all)];
  const ids = deltas.map(([id]) => id);
  if (guard?.fits && ids.some((id) => !guard.fits!.has(id))) throw new LedgerInvariantError("a conditional movement must know every line it moves");

  const eCols: unknown[][] = [[], [], [], [], [], [], [], [], []];
  for (const e of entries) {
    [e.entryId, e.kind, e.currency, e.holdId ?? null, e.transactionId ?? null, e.loanId ?? null, e.repaymentId ?? null, e.description, e.actorId]
      .forEach((v, i) => eCols[i]!.push(v));
  }
  const pCols: unknown[][] = [[], [], [], [], []];
  for (const e of entries) {
    e.postings.forEach((p, seq) => [e.entryId, seq, p.lineId, p.account, p.amount].forEach((v, i) => pCols[i]!.push(v)));
  }
  const values: unknown[] = [ids, deltas.map(([, d]) => d.limit), deltas.map(([, d]) => d.held), deltas.map(([, d]) => d.used), now, ...eCols, ...pCols];
  const at = (v: unknown) => `$${values.push(v)}`;
  // Nothing is inserted unless every line was updated: in a statement of its own (no
  // transaction to roll back) a movement must apply whole or not at all.
  const whole = `(SELECT count(*) FROM up) = cardinality($1::uuid[])`;
  // The versions are compared on the locked rows, before any line changes: all or none.
  // Checked on the locked rows, before any line changes: all lines fit, or none moves.
  const f = guard?.fits ? ids.map((id) => guard.fits!.get(id)!) : null;
  const versionsOk = f
    ? ` AND (SELECT count(*) FROM lk JOIN unnest($1::uuid[], ${at(f.map((x) => x.version))}::bigint[], ${at(f.map((x) => x.status))}::text[],
                                              ${at(f.map((x) => x.controls?.toString("hex") ?? null))}::text[], ${at(f.map((x) => x.needs))}::bigint[])
                                       AS x(line_id, v, st, ctl, needs) USING (line_id)
              WHERE lk.version = x.v
                 OR (lk.status = x.st AND encode(lk.controls, 'hex') IS NOT DISTINCT FROM x.ctl AND NOT lk.daily_controls
                     AND lk.limit_minor - lk.held - lk.used >= x.needs)) = cardinality($1::uuid[])`
    : "";
  // The hold is claimed before the lines are locked (its EXISTS runs first, as an InitPlan):
  // the order every resolution uses, hold then lines.
  const r = guard?.resolves;
  const resolve = r ? `hr AS (UPDATE credit.holds SET status = ${at(r.to)}, captured_amount = ${at(r.captured)}, released_amount = amount - ${at(r.captured)},
                         resolve_entry_id = ${at(r.entryId)}, resolve_time = $5
                   WHERE hold_id = ${at(r.holdId)} AND status = 'PENDING' AND amount >= ${at(r.captured)} AND expire_time > $5 RETURNING 1),
          ` : "";
  const claimed = r ? ` AND EXISTS (SELECT 1 FROM hr)` : "";
  const hold = newHolds.length > 0 ? `,
          h AS (INSERT INTO credit.holds (${HOLD_COLS})
                SELECT * FROM unnest(${HOLD_FIELDS.map((f) => `${at(newHolds.map((h) => h[f]))}::${HOLD_TYPES[f]}[]`).join(", ")})
                 WHERE ${whole} RETURNING 1)` : "";
  const keys = guard?.keys ?? [];
  const table = keys[0]?.table;
  if (keys.some((k) => k.table !== table)) throw new LedgerInvariantError("one movement claims keys in one table");
  const key = keys.length > 0 ? `,
          k AS (INSERT INTO ${table} (scope, key, request_hash, response)
                SELECT * FROM unnest(${at(keys.map((k) => k.scope))}::text[], ${at(keys.map((k) => k.key))}::text[],
                                     ${at(keys.map((k) => k.requestHash))}::text[], ${at(keys.map((k) => Buffer.from(k.response)))}::bytea[])
                 WHERE ${whole} RETURNING 1)` : "";
  const text = `WITH ${resolve}lk AS (SELECT line_id, version, status, controls, daily_controls, limit_minor, held, used FROM credit.lines WHERE line_id = ANY($1::uuid[])${claimed}
                  ORDER BY (parent_id IS NULL) DESC, line_id FOR UPDATE),
          d AS (SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[]) AS d(line_id, dl, dh, du)),
          up AS (UPDATE credit.lines l
                    SET limit_minor = l.limit_minor + d.dl, held = l.held + d.dh, used = l.used + d.du,
                        version = l.version + 1, update_time = $5
                   FROM d WHERE l.line_id = d.line_id AND (SELECT count(*) FROM lk) = cardinality($1::uuid[])${versionsOk}
                 RETURNING ${LINE_COLS.split(",").map((c) => "l." + c.trim()).join(", ")}),
          e AS (INSERT INTO credit.journal_entries (entry_id, kind, currency, hold_id, transaction_id, loan_id, repayment_id, description, actor_id, create_time)
                SELECT t.*, $5 FROM unnest($6::uuid[], $7::int2[], $8::text[], $9::uuid[], $10::uuid[], $11::uuid[], $12::uuid[], $13::text[], $14::text[]) AS t
                WHERE ${whole} RETURNING 1),
          p AS (INSERT INTO credit.postings (entry_id, seq, line_id, account, amount)
                SELECT * FROM unnest($15::uuid[], $16::int2[], $17::uuid[], $18::int2[], $19::bigint[])
                WHERE ${whole} RETURNING 1)${hold}${key}
     SELECT * FROM up, (SELECT count(*) FROM e) ce, (SELECT count(*) FROM p) cp${hold ? ", (SELECT count(*) FROM h) ch" : ""}${key ? ", (SELECT count(*) FROM k) ck" : ""}`;
  return { text, values, lines: ids.length };
}

// ---- reading ------------------------------------------------------------------------

export interface EntryRow {
  entry_id: string;
  kind: number;
  currency: string;
  hold_id: string | null;
  transaction_id: string | null;
  loan_id: string | null;
  repayment_id: string | null;
  description: string;
  actor_id: string;
  create_time: Date;
  postings: { line_id: string; account: number; amount: string }[];
}

export async function listEntries(
  db: Db,
  lineId: string,
  f: { start: Date | null; end: Date | null; kinds: number[]; after: { time: Date; id: string } | null; limit: number },
): Promise<EntryRow[]> {
  // amounts travel as text inside json so int8 never passes through a JS number.
  return await many<EntryRow>(
    db,
    `SELECT e.*, (SELECT json_agg(json_build_object('line_id', p.line_id, 'account', p.account, 'amount', p.amount::text) ORDER BY p.seq)
                    FROM credit.postings p WHERE p.entry_id = e.entry_id) AS postings
       FROM credit.journal_entries e
      WHERE e.entry_id IN (SELECT entry_id FROM credit.postings WHERE line_id = $1)
        AND ($2::timestamptz IS NULL OR e.create_time >= $2)
        AND ($3::timestamptz IS NULL OR e.create_time < $3)
        AND (cardinality($4::int2[]) = 0 OR e.kind = ANY($4::int2[]))
        AND ($5::timestamptz IS NULL OR (e.create_time, e.entry_id) < ($5, $6::uuid))
      ORDER BY e.create_time DESC, e.entry_id DESC LIMIT $7`,
    [lineId, f.start, f.end, f.kinds, f.after?.time ?? null, f.after?.id ?? null, f.limit + 1],
  );
}

export async function entryIdsOfHold(db: Db, holdId: string): Promise<string[]> {
  const rows = await many<{ entry_id: string }>(db, `SELECT entry_id FROM credit.journal_entries WHERE hold_id = $1 ORDER BY create_time, kind`, [holdId]);
  return rows.map((r) => r.entry_id);
}

// ---- verification -------------------------------------------------------------------

export interface LineBalanceRow {
  line_id: string;
  parent_id: string | null;
  limit_minor: bigint;
  held: bigint;
  used: bigint;
  p_limit: bigint;
  p_available: bigint;
  p_held: bigint;
  p_used: bigint;
  kids_held: bigint | null;
  kids_used: bigint | null;
  pending_held: bigint;
}

/** Each selected line's counters beside what its postings, sub-lines and pending holds say. */
export async function lineBalances(db: Db, ids: string[] | null, bankId: string | null): Promise<LineBalanceRow[]> {
  return await many<LineBalanceRow>(
    db,
    `WITH sel AS (SELECT * FROM credit.lines
                   WHERE ($1::uuid[] IS NULL OR line_id = ANY($1::uuid[])) AND ($2::uuid IS NULL OR bank_id = $2)),
          sums AS (SELECT p.line_id,
                          coalesce(sum(p.amount) FILTER (WHERE account = 1), 0)::bigint AS p_limit,
                          coalesce(sum(p.amount) FILTER (WHERE account = 2), 0)::bigint AS p_available,
                          coalesce(sum(p.amount) FILTER (WHERE account = 3), 0)::bigint AS p_held,
                          coalesce(sum(p.amount) FILTER (WHERE account = 4), 0)::bigint AS p_used
                     FROM credit.postings p JOIN sel ON sel.line_id = p.line_id GROUP BY p.line_id),
          -- A parent's sub-lines; a program's root lines (a sub-line is in its parent's sums).
          kids AS (SELECT c.parent_id, sum(c.held)::bigint AS kids_held, sum(c.used)::bigint AS kids_used
                     FROM credit.lines c JOIN sel ON sel.line_id = c.parent_id GROUP BY c.parent_id
                   UNION ALL
                   SELECT c.program_id, sum(c.held)::bigint, sum(c.used)::bigint
                     FROM credit.lines c JOIN sel ON sel.line_id = c.program_id WHERE c.parent_id IS NULL GROUP BY c.program_id),
          pend AS (SELECT h.line_id AS id, h.amount FROM credit.holds h JOIN sel ON sel.line_id = h.line_id WHERE h.status = 'PENDING'
                   UNION ALL
                   SELECT h.parent_line_id, h.amount FROM credit.holds h JOIN sel ON sel.line_id = h.parent_line_id WHERE h.status = 'PENDING'
                   UNION ALL
                   SELECT h.program_line_id, h.amount FROM credit.holds h JOIN sel ON sel.line_id = h.program_line_id WHERE h.status = 'PENDING'),
          pends AS (SELECT id, sum(amount)::bigint AS pending_held FROM pend GROUP BY id)
     SELECT sel.line_id, sel.parent_id, sel.limit_minor, sel.held, sel.used,
            coalesce(s.p_limit, 0)::bigint AS p_limit, coalesce(s.p_available, 0)::bigint AS p_available,
            coalesce(s.p_held, 0)::bigint AS p_held, coalesce(s.p_used, 0)::bigint AS p_used,
            k.kids_held, k.kids_used, coalesce(pe.pending_held, 0)::bigint AS pending_held
       FROM sel LEFT JOIN sums s ON s.line_id = sel.line_id LEFT JOIN kids k ON k.parent_id = sel.line_id
            LEFT JOIN pends pe ON pe.id = sel.line_id
      ORDER BY sel.line_id`,
    [ids, bankId],
  );
}

/** Entries (touching the selected lines) whose postings do not sum to zero, and how many were read. */
export async function unbalancedEntries(db: Db, ids: string[] | null, bankId: string | null): Promise<{ unbalanced: string[]; checked: bigint }> {
  const rows = await many<{ entry_id: string | null; checked: bigint }>(
    db,
    `WITH sel AS (SELECT line_id FROM credit.lines
                   WHERE ($1::uuid[] IS NULL OR line_id = ANY($1::uuid[])) AND ($2::uuid IS NULL OR bank_id = $2)),
          ents AS (SELECT DISTINCT p.entry_id FROM credit.postings p JOIN sel ON sel.line_id = p.line_id),
          bad AS (SELECT p.entry_id FROM credit.postings p JOIN ents USING (entry_id) GROUP BY p.entry_id HAVING sum(p.amount) <> 0)
     SELECT bad.entry_id, (SELECT count(*) FROM ents)::bigint AS checked FROM (SELECT 1) one LEFT JOIN bad ON true`,
    [ids, bankId],
  );
  return { unbalanced: rows.filter((r) => r.entry_id).map((r) => r.entry_id!), checked: rows[0]?.checked ?? 0n };
}

/** PENDING holds whose HOLD entry does not post exactly their amount to HELD on their lines. */
export async function inconsistentHolds(db: Db, ids: string[] | null, bankId: string | null): Promise<string[]> {
  const rows = await many<{ hold_id: string }>(
    db,
    `SELECT h.hold_id FROM credit.holds h JOIN credit.lines l ON l.line_id = h.line_id
      WHERE h.status = 'PENDING' AND ($1::uuid[] IS NULL OR h.line_id = ANY($1::uuid[]) OR h.parent_line_id = ANY($1::uuid[]) OR h.program_line_id = ANY($1::uuid[]))
        AND ($2::uuid IS NULL OR l.bank_id = $2)
        AND (coalesce((SELECT sum(p.amount) FROM credit.postings p WHERE p.entry_id = h.hold_entry_id AND p.account = 3 AND p.line_id = h.line_id), 0) <> h.amount
          OR (h.parent_line_id IS NOT NULL AND coalesce((SELECT sum(p.amount) FROM credit.postings p
                 WHERE p.entry_id = h.hold_entry_id AND p.account = 3 AND p.line_id = h.parent_line_id), 0) <> h.amount)
          OR (h.program_line_id IS NOT NULL AND coalesce((SELECT sum(p.amount) FROM credit.postings p
                 WHERE p.entry_id = h.hold_entry_id AND p.account = 3 AND p.line_id = h.program_line_id), 0) <> h.amount)
          OR EXISTS (SELECT 1 FROM credit.journal_entries e WHERE e.hold_id = h.hold_id AND e.entry_id <> h.hold_entry_id))`,
    [ids, bankId],
  );
  return rows.map((r) => r.hold_id);
}
