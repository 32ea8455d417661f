// AuthService SQL. Every table is schema-qualified (auth.*): the embedded database has
// one shared session, so nothing here relies on search_path.
import { many, one, type Pool, type Tx } from "../../platform/db.js";

type Db = Pool | Tx;

export type UserRoleName = "DRIVER" | "AGENCY_ADMIN" | "BANK_ADMIN" | "MERCHANT_ADMIN" | "SYSTEM_ADMIN";

export interface UserRow {
  user_id: string;
  phone: string;
  display_name: string;
  role: UserRoleName;
  agency_id: string | null;
  bank_id: string | null;
  merchant_id: string | null;
  driver_id: string | null;
  active: boolean;
  create_time: Date;
  /** create_time as Postgres text, exact to the microsecond (page tokens). */
  create_time_key: string;
}

const USER_COLS = `user_id, phone, display_name, role, agency_id, bank_id, merchant_id, driver_id, active, create_time, create_time::text AS create_time_key`;

export interface NewUser {
  userId: string;
  phone: string;
  displayName: string;
  role: UserRoleName;
  agencyId: string | null;
  bankId: string | null;
  merchantId: string | null;
  driverId: string | null;
  createdBy: string;
  createTime: Date;
}

/** Inserts a user; a taken phone or driver id raises unique_violation (23505). */
export async function insertUser(db: Db, u: NewUser): Promise<UserRow> {
  const row = await one<UserRow>(
    db,
    `INSERT INTO auth.users (user_id, phone, display_name, role, agency_id, bank_id, merchant_id, driver_id, created_by, create_time)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     RETURNING ${USER_COLS}`,
    [u.userId, u.phone, u.displayName, u.role, u.agencyId, u.bankId, u.merchantId, u.driverId, u.createdBy, u.createTime],
  );
  return row!;
}

/** Inserts a user unless the phone is taken (replicas racing at start). True if inserted. */
export async function insertUserIfAbsent(db: Db, u: NewUser): Promise<boolean> {
  const res = await db.query(
    `INSERT INTO auth.users (user_id, phone, display_name, role, agency_id, bank_id, merchant_id, driver_id, created_by, create_time)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT DO NOTHING`,
    [u.userId, u.phone, u.displayName, u.role, u.agencyId, u.bankId, u.merchantId, u.driverId, u.createdBy, u.createTime],
  );
  return (res.rowCount ?? 0) > 0;
}

export async function userByPhone(db: Db, phone: string): Promise<UserRow | undefined> {
  return await one<UserRow>(db, `SELECT ${USER_COLS} FROM auth.users WHERE phone = $1`, [phone]);
}

export async function userById(db: Db, userId: string, forUpdate = false): Promise<UserRow | undefined> {
  return await one<UserRow>(db, `SELECT ${USER_COLS} FROM auth.users WHERE user_id = $1${forUpdate ? " FOR UPDATE" : ""}`, [userId]);
}

export interface ListUsersQuery {
  limit: number;
  role: UserRoleName | null;
  scope: { column: "agency_id" | "bank_id" | "merchant_id"; id: string } | null;
  after: { createTime: string; userId: string } | null;
}

/** Newest first, keyset-paginated on (create_time, user_id). */
export async function listUsers(db: Db, q: ListUsersQuery): Promise<UserRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (q.role) {
    params.push(q.role);
    where.push(`role = $${params.length}`);
  }
  if (q.scope) {
    params.push(q.scope.id);
    where.push(`${q.scope.column} = $${params.length}`); // column comes from a fixed union, never input
  }
  if (q.after) {
    params.push(q.after.createTime, q.after.userId);
    where.push(`(create_time, user_id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
  }
  params.push(q.limit);
  return await many<UserRow>(
    db,
    `SELECT ${USER_COLS} FROM auth.users ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
      ORDER BY create_time DESC, user_id DESC LIMIT $${params.length}`,
    params,
  );
}

export async function disableUser(db: Db, userId: string): Promise<UserRow | undefined> {
  return await one<UserRow>(db, `UPDATE auth.users SET active = false WHERE user_id = $1 RETURNING ${USER_COLS}`, [userId]);
}

// ---- refresh tokens ----

export interface RefreshTokenRow {
  token_hash: string;
  family_id: string;
  user_id: string;
  spent: boolean;
  revoked: boolean;
  expire_time: Date;
  spent_time: Date | null;
}

const REFRESH_COLS = `token_hash, family_id, user_id, spent, revoked, expire_time, spent_time`;

export async function insertRefreshToken(
  db: Db,
  t: { hash: string; familyId: string; userId: string; expireTime: Date; createTime: Date; parentHash?: string },
): Promise<void> {
  await db.query(
    `INSERT INTO auth.refresh_tokens (token_hash, family_id, user_id, expire_time, create_time, parent_hash) VALUES ($1, $2, $3, $4, $5, $6)`,
    [t.hash, t.familyId, t.userId, t.expireTime, t.createTime, t.parentHash ?? null],
  );
}

export async function refreshTokenForUpdate(db: Db, hash: string): Promise<RefreshTokenRow | undefined> {
  return await one<RefreshTokenRow>(db, `SELECT ${REFRESH_COLS} FROM auth.refresh_tokens WHERE token_hash = $1 FOR UPDATE`, [hash]);
}

/**
 * The live successor of a spent token, locked: its child that is neither spent nor
 * revoked (a family has at most one live token). Locked after its parent, as every path
 * locks a parent before its child, so a retry and the successor's own refresh queue
 * rather than deadlock; a successor spent meanwhile no longer matches once the lock is
 * granted, and the retry is then a reuse.
 */
export async function successorForUpdate(db: Db, parentHash: string): Promise<RefreshTokenRow | undefined> {
  return await one<RefreshTokenRow>(
    db,
    `SELECT ${REFRESH_COLS} FROM auth.refresh_tokens WHERE parent_hash = $1 AND NOT spent AND NOT revoked LIMIT 1 FOR UPDATE`,
    [parentHash],
  );
}

/** Marks a token spent; the first spend's time is kept (a retry does not extend its grace). */
export async function spendRefreshToken(db: Db, hash: string, now: Date): Promise<void> {
  await db.query(`UPDATE auth.refresh_tokens SET spent = true, spent_time = coalesce(spent_time, $2) WHERE token_hash = $1`, [hash, now]);
}

export async function revokeFamily(db: Db, familyId: string): Promise<void> {
  await db.query(`UPDATE auth.refresh_tokens SET revoked = true WHERE family_id = $1 AND NOT revoked`, [familyId]);
}

/** Revokes the family the token belongs to; unknown tokens are silently ignored. */
export async function revokeFamilyOfToken(db: Db, hash: string): Promise<void> {
  await db.query(
    `UPDATE auth.refresh_tokens SET revoked = true
      WHERE family_id = (SELECT family_id FROM auth.refresh_tokens WHERE token_hash = $1) AND NOT revoked`,
    [hash],
  );
}

export async function revokeUserTokens(db: Db, userId: string): Promise<void> {
  await db.query(`UPDATE auth.refresh_tokens SET revoked = true WHERE user_id = $1 AND NOT revoked`, [userId]);
}

// ---- machine credentials ----

export interface MachineRow {
  client_id: string;
  secret_hash: string;
  kind: "POS_TERMINAL" | "BANK_SYSTEM";
  station_id: string | null;
  merchant_id: string | null;
  bank_id: string | null;
  label: string;
  active: boolean;
  create_time: Date;
}

const MACHINE_COLS = `client_id, secret_hash, kind, station_id, merchant_id, bank_id, label, active, create_time`;

export async function insertMachine(
  db: Db,
  m: { clientId: string; secretHash: string; kind: MachineRow["kind"]; stationId: string | null; merchantId: string | null; bankId: string | null; label: string; createdBy: string; createTime: Date },
): Promise<MachineRow> {
  const row = await one<MachineRow>(
    db,
    `INSERT INTO auth.machine_credentials (client_id, secret_hash, kind, station_id, merchant_id, bank_id, label, created_by, create_time)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${MACHINE_COLS}`,
    [m.clientId, m.secretHash, m.kind, m.stationId, m.merchantId, m.bankId, m.label, m.createdBy, m.createTime],
  );
  return row!;
}

export async function machineById(db: Db, clientId: string): Promise<MachineRow | undefined> {
  return await one<MachineRow>(db, `SELECT ${MACHINE_COLS} FROM auth.machine_credentials WHERE client_id = $1`, [clientId]);
}

export async function revokeMachine(db: Db, clientId: string): Promise<MachineRow | undefined> {
  return await one<MachineRow>(db, `UPDATE auth.machine_credentials SET active = false WHERE client_id = $1 RETURNING ${MACHINE_COLS}`, [clientId]);
}

/** A credential as a list shows it: no secret hash, and its issue instant to the microsecond. */
export type MachineListRow = Omit<MachineRow, "secret_hash"> & {
  /** create_time in microseconds since the Unix epoch, as text (page tokens). */
  create_time_us: string;
};

const MACHINE_LIST_COLS = `client_id, kind, station_id, merchant_id, bank_id, label, active, create_time,
  (extract(epoch FROM create_time) * 1000000)::bigint::text AS create_time_us`;

export interface ListMachinesQuery {
  kind: MachineRow["kind"] | null;
  merchantId: string | null;
  bankId: string | null;
  stationId: string | null;
  activeOnly: boolean;
  /** The last row of the previous page; create_time as timestamptz text. */
  after: { createTime: string; clientId: string } | null;
  limit: number;
}

/** Newest first, keyset-paginated on (create_time, client_id), on the index of the narrowest scope. */
export async function listMachines(db: Db, q: ListMachinesQuery): Promise<MachineListRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const eq = (column: string, value: string | null) => {
    if (value === null) return;
    params.push(value);
    where.push(`${column} = $${params.length}`); // column names are literals here, never input
  };
  eq("merchant_id", q.merchantId);
  eq("bank_id", q.bankId);
  eq("station_id", q.stationId);
  eq("kind", q.kind);
  if (q.activeOnly) where.push("active");
  if (q.after) {
    params.push(q.after.createTime, q.after.clientId);
    where.push(`(create_time, client_id) < ($${params.length - 1}::timestamptz, $${params.length})`);
  }
  params.push(q.limit);
  return await many<MachineListRow>(
    db,
    `SELECT ${MACHINE_LIST_COLS} FROM auth.machine_credentials ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
      ORDER BY create_time DESC, client_id DESC LIMIT $${params.length}`,
    params,
  );
}
