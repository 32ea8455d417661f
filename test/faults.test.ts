// Faults the system survives. The whole mesh (every service and the gateway, bin/mesh.ts)
// runs as a child process on a PostgreSQL cluster and a Redis server of this suite's own,
// so they can be broken without disturbing other suites, and a crash of the mesh is seen
// as one. Eight POS terminals (grpc-js, through the gateway) sell throughout: Authorize
// then Settle, each with its idempotency key, a retryable answer retried with that key.
//   F2  pg_terminate_backend on every connection of the mesh, twice
//   F3  PostgreSQL stopped (-m immediate) for 3 s, then started
//   F4  Redis killed (SIGKILL) for 2 s, then started empty
//   F5  SIGTERM under load: the drain, then a restart
// After each: the mesh is up, no call was answered with a code a terminal does not retry,
// every sale is settled with exactly one hold, one capture and one loan, the line's
// figures are exactly those of the sales, VerifyLedger is clean, and a watcher of a
// station still sees its changes (the LISTEN connection came back by itself). The
// figures are printed as the README's table "What we promise under faults".
import { randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import type pg from "pg";
import * as assert from "uvu/assert";
import { FuelType, Role } from "../gen/fuel/common/v1/common_pb.js";
import { StationService, WatchEventKind } from "../gen/fuel/station/v1/station_pb.js";
import { AuthService } from "../gen/fuel/auth/v1/auth_pb.js";
import { TransactionService, TransactionStatus } from "../gen/fuel/transaction/v1/transaction_pb.js";
import { Health, HealthCheckResponse_ServingStatus as Serving } from "../gen/grpc/health/v1/health_pb.js";
import { creditSuite, Fixtures } from "./credit-fixtures.js";
import { connectJson, GrpcJsClient } from "./helpers/clients.js";
import { MeshChild, postgresBinDir, PrivatePostgres, PrivateRedis, redisServerPath } from "./helpers/private-infra.js";
import { fails, newPhone } from "./helpers/rpc.js";
import { SaleLoad, type Sale } from "./helpers/sale-load.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";
import { PETROL_PRICE, RETRYABLE, saleFacts, saleWorld, type SaleWorld } from "./helpers/sale-world.js";

const test = creditSuite("faults");
const CAN_RUN = !!postgresBinDir() && !!redisServerPath();

const TERMINALS = 8;
const AMOUNT_MINOR = 100_000n; // each Authorize holds 1 000.00
const VOLUME_ML = 1_000n; // each Settle captures 1 l at 650.00
const SETTLED_MINOR = (PETROL_PRICE * VOLUME_ML) / 1000n;
/** Sales must succeed again within this long of the fault's end. */
const RECOVERY_MS = 2_000;
/** The drain's bound, given to the child. */
const DRAIN_TIMEOUT_MS = 5_000;
/**
 * What a drain of this load may take: its calls take milliseconds, and nothing else may
 * hold the process (streams end at once, idle keep-alive connections are closed).
 */
const DRAIN_EXPECTED_MS = 2_000;
/** The child's deadline cap, which is also how long the sweeper leaves a step to its request. */
const MAX_DEADLINE_MS = 4_000;
/** The child's recovery sweeper period. */
const SWEEP_MS = 500;
/** A sale answered CAPTURED has its loan within this (the sweeper's bound, and slack). */
const LOAN_FOLLOWS_MS = MAX_DEADLINE_MS + SWEEP_MS + 2_000;
/** How long terminals sell before a fault and after its end. */
const WARM_MS = 1_000;
const AFTER_MS = 2_000;

let pgc: PrivatePostgres;
let redis: PrivateRedis;
let mesh: MeshChild;
let fx: Fixtures;
let w: SaleWorld;
let current: SaleLoad | null = null;
let posToken: string;
let terminals: GrpcJsClient<typeof TransactionService>[] = [];
let watch: Watcher;
/** Sales of every phase, for the money figures. */
const allSales: Sale[] = [];
/** One row per fault, for the table printed at the end. */
const rows: string[] = [];
/** Sales answered CAPTURED (loan made later by the sweeper), per fault. */
const answeredCaptured: Record<string, number> = {};

test.before(async () => {
  if (!CAN_RUN) {
    console.log("  (faults: needs PostgreSQL's binaries under /usr/lib/postgresql and redis-server; CI has them)");
    return;
  }
  pgc = await PrivatePostgres.create();
  redis = await PrivateRedis.create();
  mesh = await MeshChild.create(pgc.url, redis.url, {
    // The load is one caller making hundreds of calls a second, from one driver's QR codes.
    RATE_LIMIT_PER_MINUTE: "1000000",
    TRANSACTION_QR_PER_MINUTE: "10000",
    DRAIN_TIMEOUT_MS: String(DRAIN_TIMEOUT_MS),
    // A sale answered CAPTURED (its loan could not be made then) is finished by the
    // sweeper within MAX_DEADLINE_MS + TRANSACTION_SWEEP_MS: short here, so the suite
    // can wait for it.
    MAX_DEADLINE_MS: String(MAX_DEADLINE_MS),
    DEFAULT_DEADLINE_MS: String(MAX_DEADLINE_MS),
    TRANSACTION_SWEEP_MS: String(SWEEP_MS),
  });
  await mesh.start();
  const system = { cfg: mesh.cfg, databaseUrl: mesh.databaseUrl, gatewayUrl: mesh.gatewayUrl };
  fx = await Fixtures.create(system);
  w = await saleWorld(system, fx);
  const merchantId = await onDb(async (db) =>
    (await db.query(`SELECT merchant_id::text AS id FROM station.stations WHERE station_id = $1`, [w.stationId])).rows[0].id as string);
  posToken = await mintAccessToken(system, principal(Role.POS_TERMINAL, { stationId: w.stationId, merchantId }));
  terminals = Array.from({ length: TERMINALS }, () => new GrpcJsClient(TransactionService, mesh.gatewayUrl, posToken));
  watch = new Watcher(mesh.gatewayUrl, posToken, w.stationId);
  await watch.opened;
});

test.after(async () => {
  await current?.abandon();
  watch?.close();
  for (const t of terminals) t.close();
  w?.pos.close();
  await mesh?.kill();
  await redis?.kill();
  await pgc?.destroy();
  if (rows.length) console.log(`\n  What we promise under faults (this run)\n  ${rows.join("\n  ")}`);
});

/** A watcher of the world's station through the gateway, keeping the tank levels it is told. */
class Watcher {
  readonly levels: bigint[] = [];
  readonly opened: Promise<void>;
  /** performance.now() when the stream ended, and how: "ok" (the server closed it cleanly) or the error. */
  ended: { at: number; how: string } | null = null;
  private readonly abort = new AbortController();

  constructor(gatewayUrl: string, token: string, stationId: string) {
    const stations = connectJson(StationService, gatewayUrl, token);
    let open!: () => void;
    this.opened = new Promise((r) => (open = r));
    void (async () => {
      try {
        for await (const ev of stations.watchAvailability({ target: { case: "stationId", value: stationId } }, { signal: this.abort.signal })) {
          if (ev.kind === WatchEventKind.SNAPSHOT) open();
          for (const f of ev.fuels) if (f.levelMl !== undefined) this.levels.push(f.levelMl);
        }
        this.ended = { at: performance.now(), how: "ok" };
      } catch (err) {
        this.ended = { at: performance.now(), how: String(err) };
      }
    })();
  }

  close(): void {
    this.abort.abort();
  }
}

/** The terminal changes the station's tank level; the watcher must be told within 2 s. */
async function assertWatcherSeesChanges(): Promise<number> {
  const levelMl = BigInt(1_000_000 + Math.floor(Math.random() * 1_000_000));
  const stations = new GrpcJsClient(StationService, mesh.gatewayUrl, posToken);
  const started = performance.now();
  try {
    await stations.unary(StationService.method.updateFuelAvailability, {
      stationId: w.stationId,
      updates: [{ fuelType: FuelType.PETROL, inStock: true, levelMl, priceMinorPerLitre: PETROL_PRICE, currency: "NGN" }],
    }, { "idempotency-key": randomUUID() });
  } finally {
    stations.close();
  }
  while (!watch.levels.includes(levelMl)) {
    assert.ok(performance.now() - started < RECOVERY_MS, "the watcher was told of a change within 2 s");
    await sleep(20);
  }
  return performance.now() - started;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** Runs `fn` on a connection of the test's own, opened for it (a stopped cluster ends any older one). */
async function onDb<T>(fn: (db: pg.Client) => Promise<T>): Promise<T> {
  const db = pgc.client();
  await db.connect();
  try {
    return await fn(db);
  } finally {
    await db.end().catch(() => undefined);
  }
}

interface Phase {
  load: SaleLoad;
  startedAt: number;
}

async function startLoad(): Promise<Phase> {
  const load = new SaleLoad(w, terminals, AMOUNT_MINOR, VOLUME_ML);
  current = load;
  await load.prepare();
  const startedAt = performance.now();
  load.start();
  await sleep(WARM_MS);
  return { load, startedAt };
}

/**
 * Stops the load and checks what must hold after any fault: no answer a terminal would
 * not retry; every sale settled, with one hold, one capture and one loan, its loan the
 * one it was told of; the line's figures exactly those of every sale so far; a clean
 * ledger.
 */
async function finish(phase: Phase, label: string): Promise<void> {
  await phase.load.stop();
  current = null;
  assert.ok(mesh.alive, `${label}: the mesh is still running (stderr: ${mesh.stderr.slice(-2000)})`);
  const sales = phase.load.sales;
  allSales.push(...sales);
  const codes = phase.load.codesBetween(0);
  for (const name of Object.keys(codes)) {
    const code = grpc.status[name as keyof typeof grpc.status] as number;
    assert.ok(code === grpc.status.OK || RETRYABLE.has(code), `${label}: a terminal was answered ${name} (${codes[name]} times)`);
  }
  for (const s of sales) {
    assert.is(s.failed, null, `${label}: a sale failed: ${JSON.stringify(s.failed)}`);
    assert.ok(s.settledAt, `${label}: every sale was settled`);
  }
  // A Settle may answer CAPTURED: the money moved, the loan could not be made then (its
  // hop failed); no state claims more than that, and the sweeper makes the loan.
  const captured = sales.filter((s) => s.settledStatus === TransactionStatus.CAPTURED);
  const facts = await onDb(async (db) => {
    const waitUntil = performance.now() + LOAN_FOLLOWS_MS;
    for (const s of captured) {
      while ((await saleFacts(db, s.transactionId)).state !== "SETTLED") {
        assert.ok(performance.now() < waitUntil, `${label}: a sale answered CAPTURED has its loan within ${secs(LOAN_FOLLOWS_MS)}`);
        await sleep(100);
      }
    }
    const out = [];
    for (const s of sales) out.push(await saleFacts(db, s.transactionId));
    return out;
  });
  for (const [i, f] of facts.entries()) {
    const sale = sales[i]!;
    assert.equal([f.state, f.holds, f.captures, f.loans], ["SETTLED", 1, 1, 1], `${label}: sale ${sale.transactionId}`);
    assert.ok(sale.settledStatus === TransactionStatus.SETTLED || sale.settledStatus === TransactionStatus.CAPTURED, `${label}: Settle answered SETTLED or CAPTURED`);
    if (sale.settledStatus === TransactionStatus.SETTLED) assert.is(f.loanId, sale.loanId, `${label}: the loan the terminal was told of is the one`);
  }
  answeredCaptured[label] = captured.length;
  await assertMoneyFigures(label);
  await assertLedgerClean(label);
}

/** The driver's line holds nothing and has used exactly what every sale settled; one loan per sale. */
async function assertMoneyFigures(label: string): Promise<void> {
  const { line, loans } = await onDb(async (db) => ({
    line: (await db.query(`SELECT held, used FROM credit.lines WHERE owner_id = $1`, [w.driverId])).rows[0],
    loans: (await db.query(`SELECT count(*)::int AS n, coalesce(sum(principal), 0)::text AS total FROM loan.loans WHERE driver_id = $1`, [w.driverId])).rows[0],
  }));
  assert.is(BigInt(line.held), 0n, `${label}: no hold is left`);
  assert.is(BigInt(line.used), SETTLED_MINOR * BigInt(allSales.length), `${label}: used = ${allSales.length} sales × ${SETTLED_MINOR}`);
  assert.is(loans.n, allSales.length, `${label}: one loan per sale`);
  assert.is(BigInt(loans.total), SETTLED_MINOR * BigInt(allSales.length), `${label}: the loans lend what was settled`);
}

async function assertLedgerClean(label: string): Promise<void> {
  const ledger = await fx.creditAdmin().verifyLedger({});
  assert.equal([ledger.differences.length, ledger.unbalancedEntryIds, ledger.inconsistentHoldIds], [0, [], []], `${label}: ledger`);
  assert.ok(ledger.consistent, `${label}: VerifyLedger consistent`);
}

function row(fault: string, what: string, phase: Phase, faultAt: number, backAt: number, extra: string): void {
  const { load } = phase;
  const first = load.firstSuccessAfter(backAt);
  const codes = Object.entries(load.codesBetween(faultAt, backAt + RECOVERY_MS)).map(([k, v]) => `${k} ${v}`).join(", ");
  rows.push(`${fault}: ${what}; sales settled before ${load.settledBetween(phase.startedAt, faultAt).length} / during ${load.settledBetween(faultAt, backAt).length} ` +
    `/ in the ${secs(AFTER_MS)} after ${load.settledBetween(backAt).length}; answers from the fault to 2 s after: ${codes}; ` +
    `first success ${first === null ? "never" : `${Math.round(first - backAt)} ms`} after the end; ${load.retried().length} sales retried, all settled; ` +
    `${answeredCaptured[fault] ?? 0} answered CAPTURED, loan made by the sweeper; ${extra}`);
}

/** Polls grpc.health.v1.Health/Check through the gateway ("") and on CreditService's own port. */
class HealthPoller {
  readonly seen: Array<{ at: number; gateway: Serving | "error"; credit: Serving | "error" }> = [];
  private stopped = false;
  private readonly done: Promise<void>;
  private readonly gw = new GrpcJsClient(Health, mesh.gatewayUrl);
  private readonly credit = new GrpcJsClient(Health, mesh.cfg.urls.credit);

  constructor() {
    const ask = (c: GrpcJsClient<typeof Health>, service: string) =>
      c.unary(Health.method.check, { service }).then((r) => r.message.status, () => "error" as const);
    this.done = (async () => {
      while (!this.stopped) {
        const [gateway, credit] = await Promise.all([ask(this.gw, ""), ask(this.credit, "fuel.credit.v1.CreditService")]);
        this.seen.push({ at: performance.now(), gateway, credit });
        await sleep(50);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
    this.gw.close();
    this.credit.close();
  }

  /** When both first answered `status` at or after `from`. */
  firstBoth(status: Serving, from: number): number | null {
    return this.seen.find((s) => s.at >= from && s.gateway === status && s.credit === status)?.at ?? null;
  }
}

test("F2: every PostgreSQL connection of the mesh terminated twice under load: no process exits, calls end OK or UNAVAILABLE, sales succeed again within 2 s", async () => {
  if (!CAN_RUN) return;
  const phase = await startLoad();
  const faultAt = performance.now();
  const first = await pgc.terminateBackends();
  await sleep(300);
  const second = await pgc.terminateBackends();
  const backAt = performance.now();
  await sleep(AFTER_MS);
  const inFlight = phase.load.codesBetween(faultAt, backAt + 200);
  await finish(phase, "F2");
  for (const name of Object.keys(inFlight)) assert.ok(name === "OK" || name === "UNAVAILABLE", `F2: a call cut by the termination ended ${name}`);
  const firstOk = phase.load.firstSuccessAfter(backAt);
  assert.ok(firstOk !== null && firstOk - backAt <= RECOVERY_MS, `F2: sales succeeded again ${firstOk === null ? "never" : secs(firstOk - backAt)} after`);
  assert.ok(first > 0 && second > 0, "F2: there were connections to end");
  const watchMs = await assertWatcherSeesChanges();
  row("F2", `pg_terminate_backend on all ${first} then ${second} connections 300 ms apart`, phase, faultAt, backAt, `watcher told of a change ${Math.round(watchMs)} ms after it`);
});

test("F3: PostgreSQL stopped (immediate) for 3 s: the mesh stays up, health NOT_SERVING while it is away and SERVING after, sales succeed again within 2 s of its return", async () => {
  if (!CAN_RUN) return;
  const phase = await startLoad();
  const health = new HealthPoller();
  await sleep(200);
  const faultAt = performance.now();
  await pgc.stop("immediate");
  await sleep(3_000);
  await pgc.start();
  const backAt = performance.now();
  await sleep(AFTER_MS);
  await health.stop();
  await finish(phase, "F3");

  assert.ok(health.seen.some((s) => s.at < faultAt && s.gateway === Serving.SERVING && s.credit === Serving.SERVING), "F3: SERVING before");
  const down = health.firstBoth(Serving.NOT_SERVING, faultAt);
  assert.ok(down !== null && down < backAt, "F3: gateway and CreditService said NOT_SERVING while PostgreSQL was away");
  const up = health.firstBoth(Serving.SERVING, backAt);
  assert.ok(up !== null && up - backAt <= RECOVERY_MS, `F3: SERVING again ${up === null ? "never" : secs(up - backAt)} after PostgreSQL's return`);
  assert.ok(health.seen.every((s) => s.gateway !== "error" && s.credit !== "error"), "F3: health always answered");
  const firstOk = phase.load.firstSuccessAfter(backAt);
  assert.ok(firstOk !== null && firstOk - backAt <= RECOVERY_MS, `F3: sales succeeded again ${firstOk === null ? "never" : secs(firstOk - backAt)} after`);
  const watchMs = await assertWatcherSeesChanges();
  row("F3", "PostgreSQL stopped with -m immediate for 3 s", phase, faultAt, backAt,
    `health NOT_SERVING ${Math.round(down! - faultAt)} ms after the stop, SERVING ${Math.round(up! - backAt)} ms after the start; watcher told of a change ${Math.round(watchMs)} ms after it`);
});

test("F4: Redis killed for 2 s and started empty: sales go on and no money figure changes, OTP answers UNAVAILABLE, GenerateQrCode is refused until Redis is back; never INTERNAL", async () => {
  if (!CAN_RUN) return;
  const phase = await startLoad();
  const auth = connectJson(AuthService, mesh.gatewayUrl);
  const phone = newPhone("+23480");
  const faultAt = performance.now();
  await redis.kill();
  await sleep(200);
  // Logins need their codes, which live in Redis: refused, retryably.
  await fails(auth.customerRequestOtp({ phone }), Code.Unavailable, "STORE_UNAVAILABLE");
  await fails(auth.customerVerifyOtp({ phone, code: "123456" }), Code.Unavailable, "STORE_UNAVAILABLE");
  // A mutating call with no guard but Redis's is refused before any work.
  await fails(w.app.generateQrCode({ fuelType: FuelType.PETROL }, { headers: { "idempotency-key": randomUUID() } }), Code.Unavailable, "IDEMPOTENCY_STORE_UNAVAILABLE");
  await sleep(1_800);
  await redis.start();
  const backAt = performance.now();
  // Redis back (empty): the mesh's clients reconnect by themselves.
  let qrBackMs = 0;
  for (;;) {
    try {
      await w.app.generateQrCode({ fuelType: FuelType.PETROL }, { headers: { "idempotency-key": randomUUID() } });
      qrBackMs = performance.now() - backAt;
      break;
    } catch {
      assert.ok(performance.now() - backAt < RECOVERY_MS, "F4: GenerateQrCode works again within 2 s of Redis's return");
      await sleep(50);
    }
  }
  const otp = await auth.customerRequestOtp({ phone });
  assert.is(otp.resendAfterSeconds > 0, true, "F4: OTP requests work again");
  await sleep(AFTER_MS);
  await finish(phase, "F4");
  const during = phase.load.settledBetween(faultAt, backAt).length;
  assert.ok(during > 0, "F4: sales went on while Redis was away");
  row("F4", "Redis killed (SIGKILL) for 2 s, restarted empty", phase, faultAt, backAt,
    `OTP request and verify UNAVAILABLE (STORE_UNAVAILABLE) and GenerateQrCode UNAVAILABLE (IDEMPOTENCY_STORE_UNAVAILABLE) while away; GenerateQrCode back ${Math.round(qrBackMs)} ms after Redis`);
});

test("F5: SIGTERM under load: calls in flight finish, new calls are UNAVAILABLE, the process exits within DRAIN_TIMEOUT_MS; after a restart every sale completes", async () => {
  if (!CAN_RUN) return;
  const phase = await startLoad();
  const termAt = performance.now();
  const exitCode = await mesh.terminate();
  const exitMs = performance.now() - termAt;
  assert.is(exitCode, 0, "F5: a clean exit");
  assert.ok(exitMs <= DRAIN_TIMEOUT_MS, `F5: exited ${secs(exitMs)} after SIGTERM`);
  assert.ok(exitMs <= DRAIN_EXPECTED_MS, `F5: exited ${secs(exitMs)} after SIGTERM; the drain waited on something other than calls in flight`);
  // The watch through the gateway was ended by the server, cleanly, as the drain began.
  assert.is(watch.ended?.how, "ok", "F5: the watch stream ended cleanly");
  assert.ok(watch.ended!.at - termAt < DRAIN_EXPECTED_MS, "F5: the watch stream ended with the drain");
  const attempts = phase.load.sales.flatMap((s) => s.attempts);
  const inFlight = attempts.filter((a) => a.sentAt < termAt && a.at >= termAt);
  for (const a of inFlight) assert.ok(a.code === grpc.status.OK || a.code === grpc.status.UNAVAILABLE, `F5: a call in flight ended ${grpc.status[a.code]}`);
  const finished = inFlight.filter((a) => a.code === grpc.status.OK).length;
  await sleep(300); // terminals keep calling a mesh that is gone

  // The terminals keep retrying; a new process (same ports, same database) finishes their sales.
  const restartAt = performance.now();
  await mesh.start();
  const backAt = performance.now();
  await sleep(AFTER_MS);
  await finish(phase, "F5");
  const after = phase.load.sales.flatMap((s) => s.attempts).filter((a) => a.sentAt >= termAt + 50 && a.at < restartAt);
  assert.ok(after.length > 0, "F5: terminals called after SIGTERM");
  for (const a of after) assert.is(grpc.status[a.code], "UNAVAILABLE", "F5: a call after SIGTERM is refused UNAVAILABLE");
  // When the first sale succeeds after the restart is mostly grpc-js's reconnect backoff,
  // grown while the port was closed: reported in the row, not asserted.
  row("F5", `SIGTERM under load (DRAIN_TIMEOUT_MS ${DRAIN_TIMEOUT_MS})`, phase, termAt, backAt,
    `${inFlight.length} calls in flight at SIGTERM, ${finished} finished OK; watch stream ended cleanly ${Math.round(watch.ended!.at - termAt)} ms after SIGTERM; ` +
    `exit 0 after ${Math.round(exitMs)} ms; restart ready in ${secs(backAt - restartAt)}`);
});

test.run();
