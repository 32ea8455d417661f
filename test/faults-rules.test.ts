// The classification of infrastructure failures (platform/errors.ts) and what the
// platform does with it: observe's mapError answers UNAVAILABLE (ABORTED for a conflict)
// instead of INTERNAL, without the cause's text; the Redis store fails within one
// reconnect attempt while Redis is away and works again once it is back; rate limits fall back to a per-process count
// then; the gateway's health follows its process's services. Where a real failure can be
// made here (a statement timeout, a terminated backend, a pool that cannot hand out a
// connection, a refused socket, ioredis giving up), the error is the real one.
import net from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { Redis } from "ioredis";
import pg from "pg";
import * as assert from "uvu/assert";
import { HealthState, DRAINING, ServingStatus } from "../platform/health.js";
import { classifyInfrastructure, infrastructureFailure, reasonOf } from "../platform/errors.js";
import { mapError } from "../platform/interceptors/observe.js";
import { createPool, onConnection } from "../platform/db.js";
import { createRedisKv, RECONNECT_MAX_MS } from "../platform/kv.js";
import { RateLimits } from "../platform/ratelimit.js";
import { creditSuite } from "./credit-fixtures.js";
import { freePort } from "../bin/system.js";
import { realPostgres, realRedis } from "./helpers/system.js";
import { TcpProxy, viaProxy } from "./helpers/tcp-proxy.js";

const test = creditSuite("faults rules");

/** A pg server error as node-postgres builds it from the wire (the parser sets the fields). */
function serverError(code: string, message = "server says no", severity = "ERROR"): pg.DatabaseError {
  return Object.assign(new pg.DatabaseError(message, message.length, "error"), { code, severity });
}

const socketError = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code, errno: -1, syscall: "connect" });

const kindOf = (err: unknown) => {
  const c = classifyInfrastructure(err);
  return c ? `${Code[c.code]} ${c.reason}` : "none";
};

test("PostgreSQL SQLSTATEs: connection, shutdown and resource classes are UNAVAILABLE, timeouts UNAVAILABLE, conflicts ABORTED, the rest none", () => {
  const cases: Array<[string, string]> = [
    ["08000", "Unavailable DATABASE_UNAVAILABLE"], // connection_exception
    ["08003", "Unavailable DATABASE_UNAVAILABLE"], // connection_does_not_exist
    ["08006", "Unavailable DATABASE_UNAVAILABLE"], // connection_failure
    ["08001", "Unavailable DATABASE_UNAVAILABLE"], // sqlclient_unable_to_establish_sqlconnection
    ["08P01", "Unavailable DATABASE_UNAVAILABLE"], // protocol_violation
    ["57P01", "Unavailable DATABASE_UNAVAILABLE"], // admin_shutdown
    ["57P02", "Unavailable DATABASE_UNAVAILABLE"], // crash_shutdown
    ["57P03", "Unavailable DATABASE_UNAVAILABLE"], // cannot_connect_now
    ["53300", "Unavailable DATABASE_UNAVAILABLE"], // too_many_connections
    ["53200", "Unavailable DATABASE_UNAVAILABLE"], // out_of_memory
    ["53100", "Unavailable DATABASE_UNAVAILABLE"], // disk_full
    ["25006", "Unavailable DATABASE_UNAVAILABLE"], // read_only_sql_transaction
    ["57014", "Unavailable DATABASE_TIMEOUT"], // query_canceled (statement_timeout)
    ["55P03", "Unavailable DATABASE_TIMEOUT"], // lock_not_available
    ["40001", "Aborted TRANSACTION_CONFLICT"], // serialization_failure
    ["40P01", "Aborted TRANSACTION_CONFLICT"], // deadlock_detected
    ["23505", "none"], ["23503", "none"], ["23514", "none"], ["22P02", "none"], ["42P01", "none"], ["42703", "none"], ["XX000", "none"], ["P0001", "none"],
  ];
  for (const [code, want] of cases) assert.is(kindOf(serverError(code)), want, code);
  // A five-letter code without the server's severity is Node's, not a SQLSTATE.
  assert.is(kindOf(Object.assign(new Error("x"), { code: "57P01" })), "none");
});

test("node-postgres and pg-pool messages without a SQLSTATE", () => {
  for (const message of [
    "Connection terminated unexpectedly",
    "Connection terminated",
    "Connection terminated due to connection timeout",
    "timeout exceeded when trying to connect",
    "Client has encountered a connection error and is not queryable",
    "Client was closed and is not queryable",
    "Query read timeout",
    "Cannot use a pool after calling end on the pool",
  ]) assert.is(kindOf(new Error(message)), "Unavailable DATABASE_UNAVAILABLE", message);
  assert.is(kindOf(new Error("Cannot read properties of undefined (reading 'rows')")), "none");
});

test("socket errors, through causes and AggregateError; a bug is none; a cyclic cause does not hang", async () => {
  for (const code of ["ECONNRESET", "ECONNREFUSED", "ECONNABORTED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "ENOTFOUND"]) {
    assert.is(kindOf(socketError(code)), "Unavailable CONNECTION_FAILED", code);
  }
  // A real refused connection.
  const port = await freePort();
  const refused = await new Promise<Error>((resolve) => net.connect(port, "127.0.0.1").once("error", resolve));
  assert.is(kindOf(refused), "Unavailable CONNECTION_FAILED");
  // Node's connect over several addresses reports one AggregateError; wrappers keep a cause.
  assert.is(kindOf(new AggregateError([socketError("ECONNREFUSED"), socketError("ECONNREFUSED")], "all failed")), "Unavailable CONNECTION_FAILED");
  assert.is(kindOf(new Error("hop failed", { cause: serverError("57P01", "terminating connection", "FATAL") })), "Unavailable DATABASE_UNAVAILABLE");
  assert.is(kindOf(new TypeError("x is not a function")), "none");
  assert.is(kindOf("a string thrown"), "none");
  const a: Error & { cause?: unknown } = new Error("a");
  const b: Error & { cause?: unknown } = new Error("b", { cause: a });
  a.cause = b;
  assert.is(kindOf(a), "none");
});

test("ioredis: a client that gave up, a closed connection, a server busy or loading; a command error is none", async () => {
  const port = await freePort();
  const gone = new Redis(port, "127.0.0.1", { maxRetriesPerRequest: 1, retryStrategy: () => 20, lazyConnect: false });
  gone.on("error", () => undefined);
  const gaveUp = await gone.get("k").then(() => null, (e: unknown) => e);
  gone.disconnect();
  assert.is((gaveUp as Error).name, "MaxRetriesPerRequestError");
  assert.is(kindOf(gaveUp), "Unavailable STORE_UNAVAILABLE");
  for (const message of ["Connection is closed.", "Command timed out", "Stream isn't writeable and enableOfflineQueue options is false", "Redis connection is not ready"]) {
    assert.is(kindOf(new Error(message)), "Unavailable STORE_UNAVAILABLE", message);
  }
  const reply = (message: string) => Object.assign(new Error(message), { name: "ReplyError" });
  assert.is(kindOf(reply("LOADING Redis is loading the dataset in memory")), "Unavailable STORE_UNAVAILABLE");
  assert.is(kindOf(reply("READONLY You can't write against a read only replica.")), "Unavailable STORE_UNAVAILABLE");
  assert.is(kindOf(reply("ERR wrong number of arguments for 'get' command")), "none");
  if (!realRedis()) return;
  // The real ones, from a real server.
  const redis = new Redis(process.env.REDIS_URL!);
  try {
    const busy = await redis.eval(`return redis.error_reply("BUSY Redis is busy running a script")`, 0).then(() => null, (e: unknown) => e);
    assert.is((busy as Error).name, "ReplyError");
    assert.is(kindOf(busy), "Unavailable STORE_UNAVAILABLE");
    const wrong = await redis.call("GET").then(() => null, (e: unknown) => e);
    assert.is(kindOf(wrong), "none");
  } finally {
    redis.disconnect();
  }
  const closed = new Redis(process.env.REDIS_URL!);
  await closed.quit();
  assert.is(kindOf(await closed.get("k").then(() => null, (e: unknown) => e)), "Unavailable STORE_UNAVAILABLE");
});

test("real PostgreSQL failures: a statement timeout, a terminated backend and its dead client, a pool that cannot hand out a connection", async () => {
  if (!realPostgres()) {
    console.log("  (faults rules: real PostgreSQL failures need DATABASE_URL; CI sets it)");
    return;
  }
  const url = process.env.DATABASE_URL!;
  const c = new pg.Client({ connectionString: url });
  c.on("error", () => undefined);
  await c.connect();
  await c.query("SET statement_timeout = 20");
  const timeout = await c.query("SELECT pg_sleep(1)").then(() => null, (e: unknown) => e);
  assert.is((timeout as pg.DatabaseError).code, "57014");
  assert.is(kindOf(timeout), "Unavailable DATABASE_TIMEOUT");
  await c.query("SET statement_timeout = 0");

  const pid = (await c.query("SELECT pg_backend_pid() AS pid")).rows[0].pid as number;
  const sleeping = c.query("SELECT pg_sleep(5)").then(() => null, (e: unknown) => e);
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await new Promise((r) => setTimeout(r, 50));
  await admin.query("SELECT pg_terminate_backend($1)", [pid]);
  const terminated = await sleeping;
  assert.is((terminated as pg.DatabaseError).code, "57P01");
  assert.is(kindOf(terminated), "Unavailable DATABASE_UNAVAILABLE");
  const dead = await c.query("SELECT 1").then(() => null, (e: unknown) => e);
  assert.is(kindOf(dead), "Unavailable DATABASE_UNAVAILABLE", String(dead));
  await c.end().catch(() => undefined);

  // A checked-out connection whose backend is terminated: the call fails, the process lives
  // (no unhandled 'error' event), and the pool hands out a working connection next.
  const pool = createPool({ connectionString: url, max: 1, connectTimeoutMs: 100, application: "faults-rules" });
  const inFlight = onConnection(pool, async (tx) => {
    await tx.query("SELECT pg_sleep(5)");
  }).then(() => null, (e: unknown) => e);
  await new Promise((r) => setTimeout(r, 50));
  // Meanwhile the pool's only connection is lent: a second checkout times out.
  const starved = await onConnection(pool, async () => undefined).then(() => null, (e: unknown) => e);
  assert.is(kindOf(starved), "Unavailable DATABASE_UNAVAILABLE", String(starved));
  await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'faults-rules'`);
  assert.is(kindOf(await inFlight), "Unavailable DATABASE_UNAVAILABLE");
  await new Promise((r) => setTimeout(r, 20)); // the idle client's 'error' event, if one were unhandled, would end this process here
  assert.is((await onConnection(pool, (tx) => tx.query("SELECT 1 AS one"))).rows[0].one, 1);
  await pool.end();
  await admin.end();
});

test("mapError: an infrastructure failure is UNAVAILABLE (or ABORTED) with a reason and without its text, also wrapped; a bug is a bare INTERNAL", () => {
  const pgDown = serverError("57P01", "terminating connection due to administrator command; SELECT secret FROM t", "FATAL");
  for (const err of [pgDown, ConnectError.from(pgDown)]) {
    const ce = mapError(err, "t1");
    assert.is(Code[ce.code], "Unavailable");
    assert.is(reasonOf(ce), "DATABASE_UNAVAILABLE");
    assert.not.match(ce.rawMessage, /SELECT|administrator/);
    assert.is(ce.metadata.get("x-trace-id"), "t1");
  }
  assert.is(Code[mapError(serverError("40P01", "deadlock detected"), "t").code], "Aborted");
  const bug = mapError(new TypeError("cannot read 'rows' of undefined"), "t2");
  assert.is(Code[bug.code], "Internal");
  assert.is(bug.rawMessage, "internal error");
  // An expected error passes unchanged.
  assert.is(Code[mapError(infrastructureFailure(socketError("ECONNRESET"))!, "t3").code], "Unavailable");
  assert.is(Code[mapError(new ConnectError("no", Code.NotFound), "t4").code], "NotFound");
});

test("the Redis store fails within one reconnect attempt while Redis is away, works again once it is back; rate limits count per process meanwhile", async () => {
  if (!realRedis()) {
    console.log("  (faults rules: the Redis store's behaviour needs REDIS_URL; CI sets it)");
    return;
  }
  const target = new URL(process.env.REDIS_URL!);
  const proxy = await TcpProxy.start(target.hostname, Number(target.port || 6379));
  const kv = createRedisKv(viaProxy(process.env.REDIS_URL!, proxy));
  try {
    const key = `faults-rules:${process.pid}:${Date.now()}`;
    assert.ok(await kv.set(key, "1", 10_000));
    const limits = new RateLimits(kv);
    await limits.consume("faults-rules", key, 3, 60); // one of three, in Redis

    proxy.cut();
    await new Promise((r) => setTimeout(r, 50)); // ioredis sees the connection close
    const started = performance.now();
    const err = await kv.get(key).then(() => null, (e: unknown) => e);
    const ms = performance.now() - started;
    assert.is(kindOf(err), "Unavailable STORE_UNAVAILABLE", String(err));
    // One reconnect attempt (RECONNECT_MAX_MS apart at most), with slack for a busy box.
    assert.ok(ms < RECONNECT_MAX_MS + 150, `failed in ${ms.toFixed(1)} ms`);
    // Limits go on in memory, per process: a budget of three allows three, then refuses;
    // each check waits at most one reconnect attempt.
    const limitStarted = performance.now();
    for (let i = 0; i < 3; i++) await limits.consume("faults-rules", key, 3, 60);
    const perCheckMs = (performance.now() - limitStarted) / 3;
    assert.ok(perCheckMs < RECONNECT_MAX_MS + 150, `a limit check took ${perCheckMs.toFixed(1)} ms`);
    const refused = await limits.consume("faults-rules", key, 3, 60).then(() => null, (e: unknown) => ConnectError.from(e));
    assert.is(refused && Code[refused.code], "ResourceExhausted");

    proxy.restore();
    const back = performance.now();
    for (;;) {
      try {
        assert.is(await kv.get(key), "1");
        break;
      } catch {
        assert.ok(performance.now() - back < RECONNECT_MAX_MS + 1_000, "the store reconnects by itself");
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    console.log(`  Redis store: a command failed in ${ms.toFixed(1)} ms while away, a limit check took ${perCheckMs.toFixed(1)} ms; back ${(performance.now() - back).toFixed(0)} ms after Redis`);
    await kv.del(key);
  } finally {
    await kv.close();
    await proxy.close();
  }
});

test("health: entries held down by a reason until let go; the gateway's state follows its process's services; draining is signalled", () => {
  const credit = new HealthState(["fuel.credit.v1.CreditService"]);
  const unlist = credit.registerInProcess();
  const gateway = new HealthState(["fuel.credit.v1.CreditService", "fuel.loan.v1.LoanService"], { mirrorProcess: true });
  try {
    const seen: string[] = [];
    const off = gateway.onChange((name, s) => seen.push(`${name || '""'}=${ServingStatus[s]}`));
    assert.is(gateway.status(""), ServingStatus.SERVING);
    credit.hold("database", true);
    assert.is(credit.status(""), ServingStatus.NOT_SERVING);
    assert.is(credit.status("fuel.credit.v1.CreditService"), ServingStatus.NOT_SERVING);
    assert.is(gateway.status(""), ServingStatus.NOT_SERVING, "the gateway is not serving while a service of its process is not");
    assert.is(gateway.status("fuel.credit.v1.CreditService"), ServingStatus.NOT_SERVING);
    assert.is(gateway.status("fuel.loan.v1.LoanService"), ServingStatus.SERVING, "a service not in this process answers for itself");
    assert.ok(seen.includes('""=NOT_SERVING'), "watchers of the gateway are told");
    credit.hold("database", false);
    assert.is(gateway.status(""), ServingStatus.SERVING);
    off();
    assert.is(gateway.status("fuel.unknown.v1.X"), undefined);
    assert.not.ok(credit.draining.aborted);
    credit.hold(DRAINING, true);
    assert.ok(credit.draining.aborted);
    assert.is(credit.status(""), ServingStatus.NOT_SERVING);
  } finally {
    unlist();
  }
  assert.is(gateway.status(""), ServingStatus.SERVING, "a service that left the process no longer counts");
});

test.run();
