// Counting what a sale asks of PostgreSQL: commits as the server counts them
// (pg_stat_database, per database), and round trips and statements as the mesh's clients
// exchange them (pg-wire-counters.ts, loaded into the mesh).
//
// PostgreSQL 15 keeps each backend's counts in the backend until it flushes them to the
// shared statistics: when the backend goes idle at least 1 s after its previous flush,
// or else by a 10 s idle timeout (PGSTAT_MIN_INTERVAL, PGSTAT_IDLE_INTERVAL), and when
// it exits. Measured here: 50 transactions run within a second of a flush showed up in
// pg_stat_database exactly 10 s later. A reading is therefore exact only STATS_SETTLE_MS
// after the last activity it must include, and `settledAfter` waits for that. Readings
// are taken on a connection to the server's maintenance database, so they do not count
// themselves; pg_stat_clear_snapshot() before each, so none comes from a cached snapshot.
import pg from "pg";
import type { WireCounts } from "./pg-wire-counters.js";

export type { WireCounts };

/**
 * PGSTAT_IDLE_INTERVAL (10 s) and a margin: the outbox deliveries that follow the last
 * sales run up to about a second after them, and flush 10 s after that.
 */
export const STATS_SETTLE_MS = 12_000;

export interface ServerCounts {
  commits: number;
  rollbacks: number;
  /** Sessions opened: each runs one transaction of its own at start, counted in `commits`. */
  sessions: number;
}

export class ServerStats {
  private constructor(private readonly client: pg.Client) {}

  /** Connects to the database named by `adminUrl` (not one being measured). */
  static async open(adminUrl: string): Promise<ServerStats> {
    const client = new pg.Client({ connectionString: adminUrl, application_name: "bench-stats" });
    client.on("error", () => undefined);
    await client.connect();
    return new ServerStats(client);
  }

  async read(database: string): Promise<ServerCounts> {
    await this.client.query("SELECT pg_stat_clear_snapshot()");
    const r = await this.client.query<{ c: string; r: string; s: string }>(
      `SELECT xact_commit::text AS c, xact_rollback::text AS r, sessions::text AS s FROM pg_stat_database WHERE datname = $1`, [database]);
    if (!r.rows[0]) throw new Error(`no statistics for database ${database}`);
    return { commits: Number(r.rows[0].c), rollbacks: Number(r.rows[0].r), sessions: Number(r.rows[0].s) };
  }

  /** Resolves once no client session is left on `database` (one only the bench uses): each flushed its counts as it exited. */
  async gone(database: string, timeoutMs = 10_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'`, [database]);
      if (r.rows[0]!.n === 0 || Date.now() > until) return;
      await sleep(50);
    }
  }

  /** The server processes serving `database` now (pg_stat_activity). */
  async backends(database: string): Promise<number[]> {
    const r = await this.client.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = $1`, [database]);
    return r.rows.map((row) => row.pid);
  }

  async close(): Promise<void> {
    await this.client.end();
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** Waits until STATS_SETTLE_MS have passed since `lastActivityAt` (a performance.now() time). */
export async function settledAfter(lastActivityAt: number): Promise<void> {
  await sleep(lastActivityAt + STATS_SETTLE_MS - performance.now());
}

const ZERO: WireCounts = { roundTrips: 0, statements: 0, commits: 0, writeCommits: 0, rollbacks: 0, connects: 0 };

/** The mesh's wire counts now, per pool (application name) and in total. */
export async function readWire(port: number): Promise<{ total: WireCounts; byPool: Record<string, WireCounts> }> {
  const res = await fetch(`http://127.0.0.1:${port}/`);
  const byPool = (await res.json()) as Record<string, WireCounts>;
  const total = { ...ZERO };
  for (const c of Object.values(byPool)) for (const k of Object.keys(total) as (keyof WireCounts)[]) total[k] += c[k];
  return { total, byPool };
}

export function diffWire(a: WireCounts, b: WireCounts): WireCounts {
  const out = { ...ZERO };
  for (const k of Object.keys(out) as (keyof WireCounts)[]) out[k] = b[k] - (a[k] ?? 0);
  return out;
}
