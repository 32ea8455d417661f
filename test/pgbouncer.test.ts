// The system behind PgBouncer in transaction mode (Debian's pgbouncer, started by the
// test): every service's pool goes through it with named statements off, while the
// migrations (node-pg-migrate's session advisory lock) and station's LISTEN go to the
// direct URL. The whole credit cycle is green through it, PgBouncer's own counters show
// the traffic passed through it, and the LISTEN session is on the server, not on it.
// A pooler cannot carry a session's statement_timeout, so a service refuses a pooled
// database whose server default leaves statements unbounded, and starts once it is set.
// Also measured: short transactions per second through PgBouncer against direct.
import pg from "pg";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { jwksFromAuth } from "../bin/system.js";
import { loadConfig, SERVICE_NAMES } from "../platform/config.js";
import { createPool, STATEMENT_TIMEOUT_MS, type Pool } from "../platform/db.js";
import { bootService, startInfra } from "../platform/runtime.js";
import { MODULES } from "../services/registry.js";
import { creditCycle } from "./helpers/credit-cycle.js";
import { PgBouncer, pgbouncerPath } from "./helpers/pgbouncer.js";
import { freshDatabase, realPostgres, startTestSystem, type TestSystem } from "./helpers/system.js";

const test = suite("pgbouncer");
let sys: TestSystem | null = null;

const available = () => realPostgres() && pgbouncerPath() !== null;
const why = "  pgbouncer: needs a real PostgreSQL (DATABASE_URL) and Debian's pgbouncer; CI has both";

test.before(async () => {
  if (!available()) return;
  sys = await startTestSystem({ pgbouncer: true });
});
test.after(async () => {
  await sys?.stop();
});

const dbName = (url: string) => new URL(url).pathname.slice(1);

test("every service's pool goes through PgBouncer; the whole cycle is green", async () => {
  if (!sys) return void console.log(why);
  const bouncer = sys.pgbouncer!;
  for (const name of SERVICE_NAMES) {
    const d = sys.infra.database(name);
    assert.ok(d.pooled, name);
    assert.is(new URL(d.url).port, String(bouncer.port), `${name} pools through PgBouncer`);
    assert.is(d.directUrl, sys.databaseUrl, `${name} has a session of its own on the server`);
  }
  assert.not.ok(sys.cfg.pgNamedStatements, "named statements are off behind a transaction pooler");
  const before = await bouncer.stats(dbName(sys.databaseUrl));
  const cycle = await creditCycle(sys);
  const after = await bouncer.stats(dbName(sys.databaseUrl));
  const passed = after.transactions - before.transactions;
  // Authorize, settle, the loan, the payment, its webhook and the repayment are dozens of transactions.
  assert.ok(passed >= 20n, `PgBouncer passed ${passed} transactions of the cycle`);
  console.log(`  pgbouncer: the cycle through PgBouncer took ${cycle.ms.toFixed(0)} ms from QR to restored limit; ${passed} transactions, ${after.queries - before.queries} queries through it`);
});

test("LISTEN holds a session on the server directly; PgBouncer has no listener among its clients", async () => {
  if (!sys) return;
  const names = await sys.pgbouncer!.clients(dbName(sys.databaseUrl));
  assert.ok(names.includes("station") && names.includes("credit"), `services are PgBouncer's clients: ${names.join(", ")}`);
  assert.not.ok(names.includes("station-listener"), "the listener does not go through PgBouncer");
  const server = new pg.Client({ connectionString: sys.databaseUrl });
  await server.connect();
  const listening = await server.query(
    `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'station-listener' AND query ILIKE 'LISTEN %'`,
  );
  await server.end();
  assert.is(listening.rows.length, 1, "station's listener session is on the server");
});

test("a pooled database without a server statement_timeout is refused at start, naming the fix; set, the service starts", async () => {
  if (!sys) return;
  const db = (await freshDatabase())!;
  const cfg = loadConfig({
    DATABASE_URL: sys.pgbouncer!.url(db.url),
    DATABASE_DIRECT_URL: db.url,
    SERVICES: "station",
    LOG_LEVEL: "silent",
  });
  const infra = await startInfra(cfg);
  try {
    const err = await bootService(MODULES.station, infra, jwksFromAuth, 0).then(() => null, (e: Error) => e);
    assert.ok(err, "a service with unbounded statements behind PgBouncer does not start");
    assert.match(err.message, "station: statement_timeout is 0 (unbounded) on the pooled database URL");
    assert.match(err.message, "ALTER ROLE <user> IN DATABASE <db> SET statement_timeout");
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await admin.query(`ALTER DATABASE ${db.name} SET statement_timeout = ${STATEMENT_TIMEOUT_MS}`);
    await admin.end();
    // PgBouncer keeps the server sessions it opened before the change.
    await sys.pgbouncer!.reconnect(db.name);
    const station = await bootService(MODULES.station, infra, jwksFromAuth, 0);
    const shown = await station.deps.pool.query<{ statement_timeout: string }>("SHOW statement_timeout");
    await station.close();
    assert.is(shown.rows[0]!.statement_timeout, `${STATEMENT_TIMEOUT_MS / 1000}s`);
  } finally {
    await infra.close();
    await db.drop();
  }
});

/** Short transactions (BEGIN, UPDATE of the client's own row, COMMIT) per second from `clients` clients for `ms`. */
async function transactionsPerSecond(pool: Pool, clients: number, ms: number): Promise<number> {
  let done = 0;
  const end = performance.now() + ms;
  const started = performance.now();
  await Promise.all(Array.from({ length: clients }, async (_, i) => {
    while (performance.now() < end) {
      const c = await pool.connect();
      try {
        await c.query("BEGIN");
        await c.query(`UPDATE bench_counters SET n = n + 1 WHERE id = $1`, [i]);
        await c.query("COMMIT");
      } finally {
        c.release();
      }
      done++;
    }
  }));
  return done / ((performance.now() - started) / 1000);
}

test("measured: short transactions per second through PgBouncer against direct, same run", async () => {
  if (!sys) return;
  const CLIENTS = 8;
  const ROUNDS = 5;
  const ROUND_MS = 600;
  // A database of the measurement's own, so PgBouncer's server sessions to it are the measurement's.
  const db = (await freshDatabase())!;
  const setup = new pg.Client({ connectionString: db.url });
  await setup.connect();
  await setup.query(`CREATE TABLE bench_counters (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0)`);
  await setup.query(`INSERT INTO bench_counters (id) SELECT generate_series(0, $1::int - 1)`, [CLIENTS]);
  await setup.end();
  const direct = createPool({ connectionString: db.url, max: CLIENTS, application: "bench-direct" });
  const pooled = createPool({ connectionString: sys.pgbouncer!.url(db.url), max: CLIENTS, application: "bench-pgbouncer", pooled: true });
  try {
    // Warm both paths (connections, PgBouncer's server pool) before either is timed, then
    // alternate short rounds so a burst of load on the machine hits both alike.
    await transactionsPerSecond(direct, CLIENTS, 200);
    await transactionsPerSecond(pooled, CLIENTS, 200);
    const d: number[] = [];
    const p: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      d.push(await transactionsPerSecond(direct, CLIENTS, ROUND_MS));
      p.push(await transactionsPerSecond(pooled, CLIENTS, ROUND_MS));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const counted = [...d, ...p].reduce((sum, tps) => sum + Math.floor(tps * (ROUND_MS / 1000)), 0);
    const total = await direct.query<{ n: bigint }>(`SELECT sum(n)::int8 AS n FROM bench_counters`);
    assert.ok(median(d) > 0 && median(p) > 0);
    assert.ok(total.rows[0]!.n >= BigInt(counted), `every counted transaction committed (${total.rows[0]!.n} ≥ ${counted})`);
    const sessions = await sys.pgbouncer!.servers(db.name);
    assert.ok(sessions >= 1 && sessions <= CLIENTS, `PgBouncer served ${CLIENTS} clients with ${sessions} server sessions`);
    console.log(
      `  pgbouncer: ${CLIENTS} clients, BEGIN/UPDATE/COMMIT, median of ${ROUNDS} alternating rounds: ` +
        `direct ${median(d).toFixed(0)}/s (${CLIENTS} server sessions), through PgBouncer ${median(p).toFixed(0)}/s ` +
        `(${sessions} server sessions); ratio ${(median(p) / median(d)).toFixed(2)}`,
    );
  } finally {
    await direct.end();
    await pooled.end();
    await sys.pgbouncer!.reconnect(db.name);
    await db.drop();
  }
});

test.run();
