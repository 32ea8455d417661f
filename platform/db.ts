// PostgreSQL access. `pg` is loaded with require() after tracing starts so the
// OpenTelemetry pg instrumentation can patch it; int8 columns come back as bigint so
// money never passes through a JavaScript number.
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import type { Pool as PgPool, PoolClient, PoolConfig, QueryResultRow } from "pg";
import { log } from "./logger.js";
import { trackPool } from "./metrics.js";

const require = createRequire(import.meta.url);

type PgModule = typeof import("pg");
let pgModule: PgModule | undefined;

function pg(): PgModule {
  if (!pgModule) {
    pgModule = require("pg") as PgModule;
    // 20 = int8. Everything int8 is money, volume or a counter: bigint, never number.
    pgModule.types.setTypeParser(20, (v: string) => BigInt(v));
  }
  return pgModule;
}

export type Pool = PgPool;
export type Tx = PoolClient;

export interface PoolOptions {
  connectionString: string;
  max: number;
  application?: string;
  /**
   * The URL reaches PostgreSQL through a pooler in transaction mode (PgBouncer), which
   * refuses session startup parameters: statement_timeout is then the server's default
   * for the role or database (see checkStatementTimeout), and no session state is set.
   */
  pooled?: boolean;
  /**
   * Send parameterised statements as named prepared statements (see NAMED_MAX). Not for
   * a server that multiplexes clients onto one session (the embedded PGlite server, or
   * PgBouncer in transaction mode): there names from different clients would collide.
   */
  namedStatements?: boolean;
  /** How long a checkout waits for a new connection (default 10 s). */
  connectTimeoutMs?: number;
  /** A client-side limit on each query (default none: statement_timeout bounds the server's side). */
  queryTimeoutMs?: number;
}

// Our statements are a fixed set of texts. Sent unnamed, each one is parsed and planned
// by PostgreSQL on every execution and its text written out every time; named, a
// connection parses it once and PostgreSQL may keep its plan. The name is a hash of the
// text, so equal texts share a name and different texts never do. Statements built with
// a varying shape could grow a connection's set without end, so past NAMED_MAX distinct
// texts in this process the rest go unnamed.
const NAMED_MAX = 1000;
const names = new Map<string, string>();

function statementName(text: string): string | undefined {
  const hit = names.get(text);
  if (hit !== undefined) return hit || undefined; // "" = never name this text again
  if (names.size >= NAMED_MAX) return undefined;
  const name = `s_${createHash("sha1").update(text).digest("base64url").slice(0, 20)}`;
  names.set(text, name);
  return name;
}

let NamedClient: PgModule["Client"] | undefined;

function namedClient(): PgModule["Client"] {
  NamedClient ??= class extends pg().Client {
    query(...args: unknown[]): never {
      const [text, values, callback] = args;
      const name = typeof text === "string" && Array.isArray(values) && values.length > 0 ? statementName(text) : undefined;
      if (!name) return (super.query as (...a: unknown[]) => never)(...args);
      const config = { name, text, values };
      // A table changed under a prepared `SELECT *` (a newer version migrated while this
      // one runs): PostgreSQL refuses the cached plan. This call fails, as it would have
      // mid-migration anyway; from now on the text goes unnamed, so retries succeed.
      const stale = (err: { code?: string; message?: string } | null | undefined) => {
        if (err?.code === "0A000" && /cached plan/.test(err.message ?? "")) names.set(text as string, "");
      };
      // pg-pool's own query() passes a callback; a checked-out client returns a promise.
      if (typeof callback === "function") {
        return (super.query as unknown as (c: unknown, cb: unknown) => never)(config, (err: Error | null, res: unknown) => {
          stale(err as never);
          (callback as (e: unknown, r: unknown) => void)(err, res);
        });
      }
      return (super.query as (c: unknown) => Promise<unknown>)(config).catch((err: { code?: string; message?: string }) => {
        stale(err);
        throw err;
      }) as never;
    }
  } as unknown as PgModule["Client"];
  return NamedClient;
}

/**
 * How long one statement may run. Every statement names its tables with their schema,
 * so no connection needs a search_path: the same SQL runs on a session of its own and
 * through a transaction pooler.
 */
export const STATEMENT_TIMEOUT_MS = 30_000;

export function createPool(opts: PoolOptions): Pool {
  const { Pool } = pg();
  const config: PoolConfig = {
    connectionString: opts.connectionString,
    max: opts.max,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
    query_timeout: opts.queryTimeoutMs,
    application_name: opts.application,
    // A statement that runs away is cut off rather than holding locks forever.
    statement_timeout: opts.pooled ? undefined : STATEMENT_TIMEOUT_MS,
    ...(opts.namedStatements ? { Client: namedClient() } : {}),
  };
  const pool = new Pool(config);
  pool.on("error", (err) => log.warn({ err }, "idle postgres client error"));
  // Its connections and waiters on /metrics, under its application name.
  if (opts.application) trackPool(opts.application, pool);
  return pool;
}

/**
 * Behind a transaction pooler the statement timeout cannot travel with the connection, so
 * it must come from the server: `ALTER ROLE … IN DATABASE … SET statement_timeout` (or
 * PgBouncer's `connect_query`). Asks through the pool and refuses an unbounded one, so a
 * runaway statement never holds its locks for ever because a setting was forgotten.
 * Returns the server's value in milliseconds.
 */
export async function checkStatementTimeout(pool: Pool, service: string): Promise<number> {
  const row = await one<{ ms: string }>(pool, `SELECT setting AS ms FROM pg_settings WHERE name = 'statement_timeout'`);
  const ms = Number(row?.ms ?? 0);
  if (ms > 0) return ms;
  throw new Error(
    `${service}: statement_timeout is 0 (unbounded) on the pooled database URL; a pooler in transaction mode ` +
      `cannot carry the ${STATEMENT_TIMEOUT_MS} ms the service sets on a direct connection. Set it on the server, e.g. ` +
      `ALTER ROLE <user> IN DATABASE <db> SET statement_timeout = '${STATEMENT_TIMEOUT_MS / 1000}s'`,
  );
}

/**
 * Runs `fn` on one connection that opens and commits its own transaction; on any throw,
 * rolls back whatever is open (outside a transaction ROLLBACK only warns).
 */
export async function onConnection<T>(pool: Pool, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // A checked-out client has no 'error' listener (pg-pool takes its own off while the
  // client is lent), and an 'error' event without one kills the process: the server
  // ending the connection (pg_terminate_backend, a restart, a dropped socket) would take
  // every service of the process down with it. The query in flight fails by itself, and
  // so does any later one on this client; the pool drops a broken client on release.
  const lost = (err: Error) => log.debug({ err }, "postgres connection lost while checked out");
  client.on("error", lost);
  try {
    return await fn(client);
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.off("error", lost);
    client.release();
  }
}

/** Runs `fn` in one transaction; rolls back on any throw. */
export async function withTx<T>(pool: Pool, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return await onConnection(pool, async (client) => {
    await client.query("BEGIN");
    const result = await fn(client);
    await client.query("COMMIT");
    return result;
  });
}

export async function one<R extends QueryResultRow>(db: Pool | Tx, sql: string, params: unknown[] = []): Promise<R | undefined> {
  const res = await db.query<R>(sql, params);
  return res.rows[0];
}

export async function many<R extends QueryResultRow>(db: Pool | Tx, sql: string, params: unknown[] = []): Promise<R[]> {
  const res = await db.query<R>(sql, params);
  return res.rows;
}

/**
 * A string as an SQL literal, for the few statements sent as simple queries (which take
 * no parameters): node-pg's escaping, which doubles quotes and backslashes and uses the
 * E'' form when there are backslashes, so it reads the same whatever
 * standard_conforming_strings says.
 */
export function sqlLiteral(value: string): string {
  return pg().escapeLiteral(value);
}

/**
 * SQL for a timestamptz as epoch milliseconds (int8), for rows read as JSON documents:
 * floored, because node-pg's own Date parse of a timestamptz column truncates its
 * microseconds, and the two ways of reading a row must agree.
 */
export function sqlEpochMs(column: string): string {
  return `floor(extract(epoch FROM ${column}) * 1000)::int8`;
}

/** SQLSTATE of a pg error, e.g. 23505 unique_violation. */
export function sqlState(err: unknown): string | undefined {
  return (err as { code?: string })?.code;
}

export const UNIQUE_VIOLATION = "23505";
export const FOREIGN_KEY_VIOLATION = "23503";
export const SERIALIZATION_FAILURE = "40001";
