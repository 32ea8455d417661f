// Boots the real system for a test suite: real PostgreSQL (a fresh database per suite,
// dropped afterwards) and real Redis when DATABASE_URL / REDIS_URL are set — CI always
// sets them — else the embedded defaults. Services listen on free ports and are reached
// through real clients. A suite may give some services fresh databases of their own
// (`ownDatabases`); with TEST_PGBOUNCER=1 (or `pgbouncer: true`) the services' pools go
// through a PgBouncer in transaction mode started for the system, while migrations,
// LISTEN and the test's own assertions reach PostgreSQL directly.
import pg from "pg";
import { loadConfig, type Config, type ServiceName } from "../../platform/config.js";
import { STATEMENT_TIMEOUT_MS } from "../../platform/db.js";
import { freshDatabase } from "../../bin/fresh-database.js";
import { startSystem, type RunningSystem } from "../../bin/system.js";
import { PgBouncer } from "./pgbouncer.js";
import { deleteEach, keysEverywhere } from "./redis-keys.js";

export interface TestSystem extends RunningSystem {
  gatewayUrl: string;
  /** Where this suite's database lives (direct, for assertions); services with `ownDatabases` are elsewhere. */
  databaseUrl: string;
  /** The direct URL of the database `name` works in. */
  databaseOf(name: ServiceName): string;
  /** The PgBouncer the services' pools go through, if any. */
  pgbouncer: PgBouncer | null;
  clock: TestClock;
}

export class TestClock {
  offsetMs = 0;
  now = () => new Date(Date.now() + this.offsetMs);
  advance(ms: number) {
    this.offsetMs += ms;
  }
}

export const realPostgres = () => !!process.env.DATABASE_URL;
export const realRedis = () => !!process.env.REDIS_URL;

/** Services' pools go through a PgBouncer of the suite's own (`.ci/run` runs some suites so). */
export const viaPgBouncer = () => process.env.TEST_PGBOUNCER === "1" || process.env.TEST_PGBOUNCER === "true";

export { freshDatabase } from "../../bin/fresh-database.js";

export interface StartOptions {
  services?: ServiceName[];
  gateway?: boolean;
  env?: Record<string, string>;
  mutate?: (cfg: Config) => void;
  /** Services that get a fresh database of their own (`<NAME>_DATABASE_URL`); real PostgreSQL only. */
  ownDatabases?: ServiceName[];
  /** Pools through a PgBouncer in transaction mode (default: TEST_PGBOUNCER); real PostgreSQL only. */
  pgbouncer?: boolean;
}

/** What an operator does for a database behind PgBouncer: its statement timeout as the server's default. */
async function boundStatements(name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`ALTER DATABASE ${name} SET statement_timeout = ${STATEMENT_TIMEOUT_MS}`);
  } finally {
    await admin.end();
  }
}

/** Fresh databases of a system, and the PgBouncer in front of them; undone in reverse. */
interface Databases {
  shared: Awaited<ReturnType<typeof freshDatabase>>;
  env: Record<string, string>;
  bouncer: PgBouncer | null;
  drop(): Promise<void>;
}

async function databasesFor(opts: StartOptions): Promise<Databases> {
  const made: Array<NonNullable<Awaited<ReturnType<typeof freshDatabase>>>> = [];
  let bouncer: PgBouncer | null = null;
  const drop = async () => {
    await bouncer?.stop();
    for (const d of made.reverse()) await d.drop();
  };
  try {
    const shared = await freshDatabase();
    if (!shared) return { shared, env: {}, bouncer: null, drop };
    made.push(shared);
    if (opts.pgbouncer ?? viaPgBouncer()) bouncer = await PgBouncer.start(process.env.DATABASE_URL!);
    const env: Record<string, string> = {};
    // A database's pooled URL and, behind PgBouncer, its direct one.
    const point = async (prefix: string, db: { name: string; url: string }) => {
      if (!bouncer) return void (env[`${prefix}URL`] = db.url);
      await boundStatements(db.name);
      env[`${prefix}URL`] = bouncer.url(db.url);
      env[`${prefix}DIRECT_URL`] = db.url;
    };
    await point("DATABASE_", shared);
    for (const name of opts.ownDatabases ?? []) {
      const own = (await freshDatabase())!;
      made.push(own);
      await point(`${name.toUpperCase()}_DATABASE_`, own);
    }
    if (bouncer) env.PG_NAMED_STATEMENTS = "false";
    return { shared, env, bouncer, drop };
  } catch (err) {
    await drop().catch(() => undefined);
    throw err;
  }
}

export async function startTestSystem(opts: StartOptions = {}): Promise<TestSystem> {
  const dbs = await databasesFor(opts);
  const env: Record<string, string | undefined> = {
    ...process.env,
    DATABASE_URL: undefined,
    DATABASE_DIRECT_URL: undefined,
    ...dbs.env,
    LOG_LEVEL: process.env.LOG_LEVEL ?? "silent",
    PORT: "0",
    DEV_INBOX_PORT: "0",
    METRICS_PORT: "0",
    ...Object.fromEntries(["auth", "kyc", "credit", "transaction", "loan", "payment", "station", "notification"].map((s) => [`${s.toUpperCase()}_PORT`, "0"])),
    ...opts.env,
  };
  const cfg = loadConfig(env);
  if (opts.services) cfg.services = opts.services;
  if (opts.gateway !== undefined) cfg.gateway = opts.gateway;
  cfg.drainTimeoutMs = 2_000;
  opts.mutate?.(cfg);
  const clock = new TestClock();
  let sys: RunningSystem;
  try {
    sys = await startSystem(cfg, { now: clock.now });
  } catch (err) {
    // uvu drops an error thrown in a `before` hook without a word (its runner returns
    // from a finally block) and the suite then waits out its time limit: say it here.
    process.stderr.write(`startTestSystem failed: ${(err as Error)?.stack ?? String(err)}\n`);
    await dbs.drop().catch(() => undefined);
    throw err;
  }
  await forgetLoopbackBudgets(sys);
  return {
    ...sys,
    clock,
    gatewayUrl: sys.gateway?.url ?? "",
    databaseUrl: sys.infra.databaseUrl ?? "",
    databaseOf: (name) => sys.infra.database(name).directUrl,
    pgbouncer: dbs.bouncer,
    async stop() {
      await sys.stop();
      await dbs.drop();
    },
  };
}

/**
 * Every suite calls from loopback, and a real Redis outlives suites (and runs): forget
 * the per-IP budgets loopback has spent, so that one suite's failed logins, OTPs and
 * anonymous calls (the hostile-input suite makes hundreds) never get the next suite
 * refused (on a Redis Cluster, on every master). Budgets per caller or per phone are
 * keyed by ids each suite draws afresh.
 */
async function forgetLoopbackBudgets(sys: RunningSystem): Promise<void> {
  const redis = sys.infra.kv.redis;
  if (!redis) return;
  await deleteEach(redis, await keysEverywhere(redis, "rl:*127.0.0.1"));
}
