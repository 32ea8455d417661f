// CreditService SQL for programs: a program row beside its ledger line (owner_kind
// PROGRAM, same id), read together.
import { many, one, type Pool, type Tx } from "../../platform/db.js";
import type { LineRow } from "./store.js";

type Db = Pool | Tx;

export interface ProgramRow {
  program_id: string;
  bank_id: string;
  name: string;
  currency: string;
  status: LineRow["status"];
  limit_minor: bigint;
  held: bigint;
  used: bigint;
  version: bigint;
  create_time: Date;
  update_time: Date;
}

const COLS = `p.program_id, p.bank_id, p.name, l.currency, l.status, l.limit_minor, l.held, l.used, l.version, p.create_time, l.update_time`;

export async function insertProgram(tx: Tx, r: { program_id: string; bank_id: string; name: string; created_by: string; create_time: Date }): Promise<void> {
  await tx.query(
    `INSERT INTO credit.programs (program_id, bank_id, name, created_by, create_time) VALUES ($1, $2, $3, $4, $5)`,
    [r.program_id, r.bank_id, r.name, r.created_by, r.create_time],
  );
}

export async function getProgram(db: Db, programId: string): Promise<ProgramRow | undefined> {
  return await one<ProgramRow>(db, `SELECT ${COLS} FROM credit.programs p JOIN credit.lines l ON l.line_id = p.program_id WHERE p.program_id = $1`, [programId]);
}

/** Newest first; one more than `limit` when there is a next page. */
export async function listPrograms(db: Db, bankId: string | null, after: { time: Date; id: string } | null, limit: number): Promise<ProgramRow[]> {
  return await many<ProgramRow>(
    db,
    `SELECT ${COLS} FROM credit.programs p JOIN credit.lines l ON l.line_id = p.program_id
      WHERE ($1::uuid IS NULL OR p.bank_id = $1) AND ($2::timestamptz IS NULL OR (p.create_time, p.program_id) < ($2, $3::uuid))
      ORDER BY p.create_time DESC, p.program_id DESC LIMIT $4`,
    [bankId, after?.time ?? null, after?.id ?? null, limit + 1],
  );
}
