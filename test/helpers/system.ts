// Boots the real system for a test suite: real PostgreSQL (a fresh database per suite,
// dropped afterwards) and real Redis when DATABASE_URL / REDIS_URL are set — CI always
// sets them — else the embedded defaults. Services listen on free ports and are reached
// through real clients.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { loadConfig, type Config, type ServiceName } from "../../platform/config.js";
import { startSystem, type RunningSystem } from "../../bin/system.js";

export interface TestSystem extends RunningSystem {
  gatewayUrl: string;
  /** Where this suite's database lives (for direct assertions). */
  databaseUrl: string;
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

/** Creates an empty database on the server named by DATABASE_URL; returns its URL and a dropper. */
export async function freshDatabase(): Promise<{ url: string; drop(): Promise<void> } | null> {
  const base = process.env.DATABASE_URL;
  if (!base) return null;
  const name = `fuel_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export interface StartOptions {
  services?: ServiceName[];
  gateway?: boolean;
  env?: Record<string, string>;
  mutate?: (cfg: Config) => void;
}

export async function startTestSystem(opts: StartOptions = {}): Promise<TestSystem> {
  const db = await freshDatabase();
  const env: Record<string, string | undefined> = {
    ...process.env,
    DATABASE_URL: db?.url,
    LOG_LEVEL: process.env.LOG_LEVEL ?? "silent",
    PORT: "0",
    DEV_INBOX_PORT: "0",
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
    await db?.drop().catch(() => undefined);
    throw err;
  }
  await forgetLoopbackBudgets(sys);
  return {
    ...sys,
    clock,
    gatewayUrl: sys.gateway?.url ?? "",
    databaseUrl: sys.infra.databaseUrl,
    async stop() {
      await sys.stop();
      await db?.drop();
    },
  };
}

/**
 * Every suite calls from loopback, and a real Redis outlives suites (and runs): forget
 * the per-IP budgets loopback has spent, so that one suite's failed logins, OTPs and
 * anonymous calls (the hostile-input suite makes hundreds) never get the next suite
 * refused. Budgets per caller or per phone are keyed by ids each suite draws afresh.
 */
async function forgetLoopbackBudgets(sys: RunningSystem): Promise<void> {
  const redis = sys.infra.kv.redis;
  if (!redis) return;
  const keys = await redis.keys("rl:*127.0.0.1");
  if (keys.length) await redis.del(...keys);
}
