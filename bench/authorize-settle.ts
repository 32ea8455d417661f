// authorize-settle-{cold,hot}: POS terminals authorizing a driver's QR through the gateway
// and settling it, at several concurrencies, beside two baselines measured in the same
// run at the same concurrency:
//   baseline  the row-lock work of a hold and its capture (lines, holds, postings in a
//             schema of its own), straight over `pg`: what one row lock costs;
//   floor     everything a sale must durably record, on the services' own tables, in two
//             statements (bench/sale-floor.ts): the same work, done as cheaply as SQL can.
// Cold: every terminal has its own driver and line. Hot: every driver draws on one agency
// line. Per sale, on the server: the commits PostgreSQL counted for the mesh's database,
// and the round trips and statements the mesh's clients exchanged with it
// (bench/pg-counters.ts says how each is made exact). The terminals run in a process of
// their own (bench/sale-load.ts): the plain HTTP/2 gRPC client gives the headline figures,
// grpc-js is measured beside it. After each measurement CreditService.VerifyLedger must be
// clean, and so must the same check on the floor's database.
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { availableParallelism } from "node:os";
import * as grpc from "@grpc/grpc-js";
import pg from "pg";
import { create, fromBinary, toBinary, type DescMethod } from "@bufbuild/protobuf";
import { FuelType, Role } from "../gen/fuel/common/v1/common_pb.js";
import { CreditService } from "../gen/fuel/credit/v1/credit_pb.js";
import { LoanService } from "../gen/fuel/loan/v1/loan_pb.js";
import { StationService } from "../gen/fuel/station/v1/station_pb.js";
import { QrImageFormat, TransactionService } from "../gen/fuel/transaction/v1/transaction_pb.js";
import { clientAs, Fixtures, ngn, tokenFor } from "../test/credit-fixtures.js";
import type { TestSystem } from "../test/helpers/system.js";
import { backendCpuMeter } from "./mesh-process.js";
import { diffWire, readWire, ServerStats, settledAfter, sleep, type WireCounts } from "./pg-counters.js";
import { floorDatabase, floorQrs, floorViolations, openSessions, runFloor, seedFloor, SQL_MAX_CLIENTS } from "./sale-floor.js";
import type { SaleLoadOptions, SaleLoadResult } from "./sale-load.js";

const PRICE_MINOR_PER_LITRE = 65_000n; // ₦650.00/L
const AUTH_AMOUNT = 2_000_000n; // ₦20,000 approved per sale
const SETTLE_ML = 20_000n; // 20 L → ₦13,000
const SETTLE_AMOUNT = (PRICE_MINOR_PER_LITRE * SETTLE_ML) / 1000n;

interface Sample {
  /** Completed sales (or baseline iterations). */
  count: number;
  /** CPU time of this process (the clients) per completed sale, ms. */
  clientCpuMs: number;
  tps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  declined: number;
}

function summarise(latencies: number[], elapsedS: number, errors: number, declined: number, cpu: NodeJS.CpuUsage): Sample {
  latencies.sort((a, b) => a - b);
  const q = (p: number) => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0) * 100) / 100;
  const clientCpuMs = latencies.length > 0 ? Math.round(((cpu.user + cpu.system) / 1000 / latencies.length) * 100) / 100 : 0;
  return { count: latencies.length, clientCpuMs, tps: Math.round((latencies.length / elapsedS) * 10) / 10, p50_ms: q(0.5), p99_ms: q(0.99), errors, declined };
}

/** A grpc-js unary call with protobuf-es serialization and metadata. */
function unary<M extends DescMethod>(client: grpc.Client, method: M, req: unknown, md: Record<string, string>): Promise<any> {
  const meta = new grpc.Metadata();
  for (const [k, v] of Object.entries(md)) meta.set(k, v);
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(`/${method.parent.typeName}/${method.name}`,
      (m: unknown) => Buffer.from(toBinary(method.input, create(method.input, m as never))),
      (b: Buffer) => fromBinary(method.output, b), req, meta, { deadline: Date.now() + 10_000 },
      (err, res) => (err ? reject(err) : resolve(res))));
}

interface World {
  terminalToken: string;
  stationId: string;
  drivers: Array<{ driverId: string; token: string }>;
  adminToken: string;
}

/** Bank with a policy and a default loan product, a merchant with a priced station. */
async function seedCommon(sys: TestSystem, fx: Fixtures) {
  const bank = await fx.bank(1_000_000_000_000n);
  await clientAs(LoanService, sys.cfg.urls.loan, bank.token).createLoanProduct({
    name: "Bench fuel 30", currency: "NGN", feeBps: 100, dailyInterestBps: 10, termDays: 30, isDefault: true,
  });
  const merchant = (await fx.kycAdmin().createMerchant({ name: "Bench Fuels", registrationNumber: `RC-${randomUUID().slice(0, 8)}`, contactEmail: "ops@bench.example" })).merchant!;
  const station = await clientAs(StationService, sys.cfg.urls.station, fx.adminToken).createStation({
    merchantId: merchant.merchantId, name: "Bench Station", address: { line1: "1 Bench Road", city: "Lagos", countryCode: "NG" },
    location: { latitude: 6.45, longitude: 3.4 }, currency: "NGN", openingHours: { timeZone: "Africa/Lagos", alwaysOpen: true },
    pumps: [{ label: "1", fuelTypes: [FuelType.PETROL, FuelType.DIESEL] }],
  });
  const stationId = station.station!.stationId;
  const terminalToken = await tokenFor(sys, Role.POS_TERMINAL, { stationId, merchantId: merchant.merchantId });
  await clientAs(StationService, sys.cfg.urls.station, terminalToken).updateFuelAvailability({
    stationId, updates: [FuelType.PETROL, FuelType.DIESEL].map((fuelType) => ({ fuelType, inStock: true, priceMinorPerLitre: PRICE_MINOR_PER_LITRE, currency: "NGN" })),
  });
  return { bank, stationId, terminalToken };
}

async function inBatches<T>(n: number, width: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  }));
  return out;
}

export async function seedCold(sys: TestSystem, drivers: number): Promise<World> {
  const fx = await Fixtures.create(sys);
  const { bank, stationId, terminalToken } = await seedCommon(sys, fx);
  const list = await inBatches(drivers, 8, async () => {
    const d = await fx.driver();
    await bank.credit.createCreditLine({ owner: { case: "driverId", value: d.driverId }, currency: "NGN", limitOverride: ngn(1_000_000_000_000n), overrideReason: "bench" });
    return d;
  });
  return { terminalToken, stationId, drivers: list, adminToken: fx.adminToken };
}

export async function seedHot(sys: TestSystem, drivers: number): Promise<World> {
  const fx = await Fixtures.create(sys);
  const { bank, stationId, terminalToken } = await seedCommon(sys, fx);
  const agency = await fx.verifiedAgency();
  const root = (await bank.credit.createCreditLine({ owner: { case: "agencyId", value: agency.agencyId }, currency: "NGN", limitOverride: ngn(1_000_000_000_000n), overrideReason: "bench" })).creditLine!;
  const list = await inBatches(drivers, 8, async () => {
    const d = await fx.driver(agency.agencyId);
    await bank.credit.createCreditLine({ owner: { case: "driverId", value: d.driverId }, currency: "NGN", parentCreditLineId: root.creditLineId });
    return d;
  });
  return { terminalToken, stationId, drivers: list, adminToken: fx.adminToken };
}

/**
 * Each sale needs a fresh QR from the driver's app; make them before the clock starts:
 * enough for `salesPerS` over `durationMs`. A terminal that runs out stops early, and
 * throughput is still sales over elapsed time.
 */
export async function prepareQrs(sys: TestSystem, world: World, concurrency: number, durationMs: number, salesPerS = 150): Promise<string[][]> {
  const perWorker = Math.max(20, Math.ceil((durationMs / 1000) * salesPerS / concurrency));
  return await inBatches(concurrency, Math.min(concurrency, 16), async (w) => {
    const d = world.drivers[w % world.drivers.length]!;
    const app = clientAs(TransactionService, sys.cfg.urls.transaction, d.token);
    const out: string[] = [];
    for (let i = 0; i < perWorker; i++) {
      out.push((await app.generateQrCode({ fuelType: FuelType.PETROL, imageFormat: QrImageFormat.UNSPECIFIED })).qrCode!.payload);
    }
    return out;
  });
}

/** Authorize + settle through the gateway for `durationMs` with `concurrency` terminals. */
export async function driveSales(sys: TestSystem, world: World, concurrency: number, durationMs: number, qrs?: string[][]): Promise<Sample> {
  qrs ??= await prepareQrs(sys, world, concurrency, durationMs);
  const address = sys.gatewayUrl.replace(/^https?:\/\//, "");
  const channels = Array.from({ length: Math.min(8, concurrency) }, (_, i) =>
    new grpc.Client(address, grpc.credentials.createInsecure(), { "grpc.channel_id": i } as grpc.ChannelOptions));
  const pos = { authorization: `Bearer ${world.terminalToken}` };
  const latencies: number[] = [];
  let errors = 0;
  let declined = 0;
  let firstError = "";
  const end = performance.now() + durationMs;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(Array.from({ length: concurrency }, async (_, w) => {
    const ch = channels[w % channels.length]!;
    for (const payload of qrs![w]!) {
      if (performance.now() >= end) break;
      const t = performance.now();
      try {
        const auth = await unary(ch, TransactionService.method.authorize, {
          qrPayload: payload, stationId: world.stationId, fuelType: FuelType.PETROL, requestedAmount: ngn(AUTH_AMOUNT), allowPartialApproval: false,
        }, { ...pos, "idempotency-key": randomUUID() });
        const txn = auth.transaction;
        if (!txn?.approvedAmount || txn.approvedAmount.amountMinor === 0n) {
          declined++;
          continue;
        }
        await unary(ch, TransactionService.method.settle, {
          transactionId: txn.transactionId, dispensed: { case: "metered", value: { volumeMl: SETTLE_ML, priceMinorPerLitre: PRICE_MINOR_PER_LITRE } },
        }, { ...pos, "idempotency-key": randomUUID() });
        latencies.push(performance.now() - t);
      } catch (err) {
        if (errors++ === 0) firstError = `${(err as grpc.ServiceError).code}: ${(err as Error).message}`.slice(0, 200);
      }
    }
  }));
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  for (const c of channels) c.close();
  if (firstError) console.error(`first error (of ${errors}): ${firstError}`);
  return summarise(latencies, elapsed, errors, declined, cpu);
}

/** Ledger check after a run: the number of differences VerifyLedger reports. */
export async function violations(sys: TestSystem, adminToken: string): Promise<number> {
  const r = await clientAs(CreditService, sys.cfg.urls.credit, adminToken).verifyLedger({});
  const n = r.differences.length + r.unbalancedEntryIds.length + r.inconsistentHoldIds.length;
  return r.consistent ? n : Math.max(1, n);
}

/**
 * The baseline: the statements a hold and its capture need, straight over pg.
 * Cold = one line per worker; hot = every hold also reserves on one shared parent row,
 * locked parent first.
 */
export async function sqlBaseline(databaseUrl: string, concurrency: number, durationMs: number, hot: boolean): Promise<Sample> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: Math.min(concurrency, SQL_MAX_CLIENTS), idleTimeoutMillis: 0 });
  pool.on("error", () => undefined); // an idle client dropped by the server is replaced on demand
  await openSessions(pool, Math.min(concurrency, SQL_MAX_CLIENTS));
  const schema = `bench_${randomUUID().slice(0, 8)}`;
  await pool.query(`CREATE SCHEMA ${schema}`);
  await pool.query(`CREATE TABLE ${schema}.lines (id int PRIMARY KEY, limit_minor bigint, held bigint, used bigint, version bigint)`);
  await pool.query(`CREATE TABLE ${schema}.holds (id uuid PRIMARY KEY, line_id int, amount bigint, status text, captured bigint)`);
  await pool.query(`CREATE TABLE ${schema}.postings (id bigserial PRIMARY KEY, entry uuid, line_id int, account text, amount bigint)`);
  await pool.query(`INSERT INTO ${schema}.lines SELECT g, 1000000000000, 0, 0, 0 FROM generate_series(0, $1) g`, [concurrency]);
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + durationMs;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(Array.from({ length: concurrency }, async (_, w) => {
    const line = w + 1;
    while (performance.now() < end) {
      const t = performance.now();
      const c = await pool.connect();
      try {
        const hold = randomUUID();
        await c.query("BEGIN");
        if (hot) await c.query(`UPDATE ${schema}.lines SET held = held + $2, version = version + 1 WHERE id = $1 AND limit_minor - used - held >= $2`, [0, AUTH_AMOUNT]);
        await c.query(`UPDATE ${schema}.lines SET held = held + $2, version = version + 1 WHERE id = $1 AND limit_minor - used - held >= $2 RETURNING held`, [line, AUTH_AMOUNT]);
        await c.query(`INSERT INTO ${schema}.holds VALUES ($1, $2, $3, 'PENDING', 0)`, [hold, line, AUTH_AMOUNT]);
        await c.query(`INSERT INTO ${schema}.postings (entry, line_id, account, amount) VALUES ($1, $2, 'AVAILABLE', $3), ($1, $2, 'HELD', $4)`, [hold, line, -AUTH_AMOUNT, AUTH_AMOUNT]);
        await c.query("COMMIT");
        await c.query("BEGIN");
        await c.query(`UPDATE ${schema}.holds SET status = 'CAPTURED', captured = $2 WHERE id = $1 AND status = 'PENDING'`, [hold, SETTLE_AMOUNT]);
        if (hot) await c.query(`UPDATE ${schema}.lines SET held = held - $2, used = used + $3, version = version + 1 WHERE id = $1`, [0, AUTH_AMOUNT, SETTLE_AMOUNT]);
        await c.query(`UPDATE ${schema}.lines SET held = held - $2, used = used + $3, version = version + 1 WHERE id = $1`, [line, AUTH_AMOUNT, SETTLE_AMOUNT]);
        await c.query(`INSERT INTO ${schema}.postings (entry, line_id, account, amount) VALUES ($1, $2, 'HELD', $3), ($1, $2, 'USED', $4), ($1, $2, 'AVAILABLE', $5)`, [hold, line, -AUTH_AMOUNT, SETTLE_AMOUNT, AUTH_AMOUNT - SETTLE_AMOUNT]);
        await c.query("COMMIT");
        latencies.push(performance.now() - t);
      } catch {
        errors++;
        await c.query("ROLLBACK").catch(() => undefined);
      } finally {
        c.release();
      }
    }
  }));
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await pool.query(`DROP SCHEMA ${schema} CASCADE`);
  await pool.end();
  return summarise(latencies, elapsed, errors, 0, cpu);
}

export type MemoryProbe = () => { rss: number; peak: number };
/** The mesh process's CPU time so far, in ms (bench/mesh-process.ts cpuMs). */
export type CpuProbe = () => number;
/** Starts measuring some processes' CPU time; `since()` in ms (bench/mesh-process.ts cpuMeter). */
export type CpuMeterFactory = () => { since(): number };

/** What the bench needs of the mesh under test to count a sale's database work. */
export interface MeshUnderTest {
  memory: MemoryProbe;
  cpu: CpuProbe;
  /** All PostgreSQL processes on this host (the old figure; only meaningful on a quiet host). */
  postgresCpu: CpuMeterFactory;
  /** The mesh's database, by name. */
  databaseName: string;
  wireCountersPort: number;
  /** A URL of the server's maintenance database, for reading statistics. */
  adminUrl: string;
}

export interface AuthorizeSettleOptions {
  durationMs?: number;
  /** Sales before each measured window (the mesh and the terminals both warm). */
  warmUpMs?: number;
  concurrencies?: number[];
  hotDrivers?: number;
}

const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

/** One measurement by a fresh terminals process (bench/sale-load.ts); `onWindow` runs when its measured window starts. */
async function terminals(opts: SaleLoadOptions, onWindow: () => Promise<void>): Promise<SaleLoadResult> {
  const script = fileURLToPath(new URL("./sale-load.ts", import.meta.url));
  // A fixed young generation and a collection before the window, as for nearby.
  const heap = ["--expose-gc", "--min-semi-space-size=16", "--max-semi-space-size=16"];
  const child = spawn(process.execPath, [...heap, "--import", "tsx", script], { stdio: ["pipe", "pipe", "inherit"] });
  child.stdin!.end(JSON.stringify(opts));
  let buffered = "";
  let result: SaleLoadResult | undefined;
  let windowHook: Promise<void> | undefined;
  child.stdout!.on("data", (b: Buffer) => {
    buffered += b.toString();
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const msg = JSON.parse(line) as { event?: string } & SaleLoadResult;
      if (msg.event === "window") windowHook = onWindow();
      else result = msg;
    }
  });
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  await windowHook;
  if (code !== 0 || !result) throw new Error(`terminals (${opts.mode}, c=${opts.qrs.length}) exited with ${code}`);
  if (result.firstError) console.error(`terminals (${opts.mode}, c=${opts.qrs.length}): first error (of ${result.errors}): ${result.firstError}`);
  return result;
}

interface Counted {
  sales: number;
  roundTrips: number;
  statements: number;
  /** Committed transactions that wrote (the wire's count). */
  writeCommits: number;
  /** Every committed transaction, read-only ones included: as the wire counts them, and as the server does (when asked for). */
  wireCommits: number;
  serverCommits: number | null;
  /** Per sale, by the mesh's pool (a service's name) that made them. */
  roundTripsByPool: Record<string, number>;
  writeCommitsByPool: Record<string, number>;
  /** The mesh's background, subtracted above: round trips and commits per second. */
  background: { roundTripsPerS: number; commitsPerS: number };
}

type Wire = Awaited<ReturnType<typeof readWire>>;

/** After the last sale, its borrower's notice is delivered by the outbox within about a second. */
const NOTICE_TAIL_MS = 2_000;

/**
 * Counts the database work of the sales `run` makes (all of them, warm-up included): the
 * mesh's wire counts from before `run` to NOTICE_TAIL_MS after it, so the outbox
 * deliveries that follow the last sales are in, less the mesh's own background work (its
 * relays' and sweepers' polls, its health probes) at the rate measured on the wire, pool
 * by pool, since `quiet`, when the mesh last did anything for the bench. With `server`,
 * also the commits PostgreSQL counted for the mesh's database over the same span, which
 * then starts and ends STATS_SETTLE_MS after any other activity so every backend has
 * flushed its statistics (bench/pg-counters.ts), less the same background and the
 * transaction each new session runs as it starts.
 */
async function counted(mesh: MeshUnderTest, stats: ServerStats, quiet: { at: number; wire: Wire }, server: boolean, run: () => Promise<number>): Promise<Counted> {
  if (server) await settledAfter(quiet.at);
  const s0 = server ? await stats.read(mesh.databaseName) : null;
  const w0 = await readWire(mesh.wireCountersPort);
  const t0 = performance.now();
  const bgMs = Math.max(1, t0 - quiet.at);
  const sales = await run();
  if (server) await settledAfter(performance.now());
  else await sleep(NOTICE_TAIL_MS);
  const s1 = server ? await stats.read(mesh.databaseName) : null;
  const w1 = await readWire(mesh.wireCountersPort);
  const spanMs = performance.now() - t0;
  const per = (n: number) => (sales > 0 ? round(n / sales, 2) : 0);
  // Each pool's counts over the span, less its background rate.
  const net = new Map<string, WireCounts>();
  for (const pool of new Set([...Object.keys(w0.byPool), ...Object.keys(w1.byPool)])) {
    const zero = diffWire(w1.total, w1.total);
    const d = diffWire(w0.byPool[pool] ?? zero, w1.byPool[pool] ?? zero);
    const bg = diffWire(quiet.wire.byPool[pool] ?? zero, w0.byPool[pool] ?? zero);
    for (const k of Object.keys(d) as (keyof WireCounts)[]) d[k] -= (bg[k] / bgMs) * spanMs;
    net.set(pool, d);
  }
  const sum = (k: keyof WireCounts) => [...net.values()].reduce((a, c) => a + c[k], 0);
  const byPool = (k: keyof WireCounts) =>
    Object.fromEntries([...net].map(([pool, c]) => [pool, per(c[k])] as const).filter(([, v]) => Math.abs(v) >= 0.05).sort((a, b) => b[1] - a[1]));
  return {
    sales,
    roundTrips: per(sum("roundTrips")),
    statements: per(sum("statements")),
    writeCommits: per(sum("writeCommits")),
    wireCommits: per(sum("commits")),
    serverCommits: s0 && s1 ? per(s1.commits - s0.commits - (s1.sessions - s0.sessions) - (w1.total.commits - w0.total.commits - sum("commits"))) : null,
    roundTripsByPool: byPool("roundTrips"),
    writeCommitsByPool: byPool("writeCommits"),
    background: {
      roundTripsPerS: round(((w0.total.roundTrips - quiet.wire.total.roundTrips) / bgMs) * 1000, 1),
      commitsPerS: round(((w0.total.commits - quiet.wire.total.commits) / bgMs) * 1000, 1),
    },
  };
}

export async function benchAuthorizeSettle(sys: TestSystem, mesh: MeshUnderTest, opts: AuthorizeSettleOptions = {}): Promise<{ rows: object[]; targets: object[] }> {
  const durationMs = opts.durationMs ?? 5_000;
  const warmUpMs = opts.warmUpMs ?? 2_000;
  const concurrencies = opts.concurrencies ?? [1, 8, 32, 64];
  const rows: Array<Record<string, unknown>> = [];
  const maxC = Math.max(...concurrencies);
  // The server's own count of commits needs its statistics settled before and after
  // (12 s each way): taken once per scenario, at the concurrency nearest 32.
  const serverCheckAt = concurrencies.reduce((best, c) => (Math.abs(c - 32) < Math.abs(best - 32) ? c : best));
  const cold = await seedCold(sys, maxC);
  const hot = await seedHot(sys, opts.hotDrivers ?? 1000);
  const floorDb = await floorDatabase();
  const stats = await ServerStats.open(mesh.adminUrl);
  const floorSale = { authAmountMinor: AUTH_AMOUNT, settleAmountMinor: SETTLE_AMOUNT, priceMinorPerLitre: PRICE_MINOR_PER_LITRE, settleVolumeMl: SETTLE_ML, holdTtlMs: 15 * 60_000 };
  try {
    for (const [scenario, world, isHot] of [["authorize-settle-cold", cold, false], ["authorize-settle-hot", hot, true]] as const) {
      const floorWorld = await seedFloor(floorDb.url, maxC, isHot);
      // QR codes for 1.5× the best rate seen so far in this scenario (at least 150/s).
      let bestTps = 0;
      for (const concurrency of concurrencies) {
        const load = (mode: SaleLoadOptions["mode"], qrs: string[][], warmMs: number): SaleLoadOptions => ({
          mode, gatewayUrl: sys.gatewayUrl, terminalToken: world.terminalToken, stationId: world.stationId, fuelType: FuelType.PETROL,
          authAmountMinor: AUTH_AMOUNT.toString(), settleVolumeMl: SETTLE_ML.toString(), priceMinorPerLitre: PRICE_MINOR_PER_LITRE.toString(),
          warmUpMs: warmMs, durationMs, qrs,
        });
        // grpc-js runs right after the plain client, on a warm mesh: a short warm-up of its own.
        const grpcJsWarmUpMs = Math.min(warmUpMs, 1_000);
        const rate = Math.max(150, Math.ceil(bestTps * 1.5));
        const qrsPlain = await prepareQrs(sys, world, concurrency, warmUpMs + durationMs, rate);
        const qrsGrpcJs = await prepareQrs(sys, world, concurrency, grpcJsWarmUpMs + durationMs, rate);
        const quiet = { at: performance.now(), wire: await readWire(mesh.wireCountersPort) };

        // The two baselines, in the floor's database, while the mesh's statistics settle.
        const base = await sqlBaseline(floorDb.url, concurrency, durationMs, isHot);
        const floorQr = await floorQrs(floorDb.url, floorWorld, concurrency, Math.ceil(((durationMs / 1000) * 3000) / concurrency) + 20);
        await stats.gone(floorDb.name);
        const f0 = await stats.read(floorDb.name);
        let floorPgCpu: { since(): Promise<number> } | undefined;
        let floorPgCpuMs = 0;
        const floor = await runFloor(floorDb.url, floorWorld, floorQr, durationMs, floorSale, {
          started: async () => void (floorPgCpu = await backendCpuMeter(() => stats.backends(floorDb.name))),
          ended: async () => void (floorPgCpuMs = (await floorPgCpu?.since()) ?? 0),
        });
        await stats.gone(floorDb.name);
        const f1 = await stats.read(floorDb.name);
        const floorViolationCount = await floorViolations(floorDb.url, floorWorld);

        // Ours: the plain client, counted; then grpc-js beside it.
        let cpu0 = 0;
        let pgCpu: { since(): Promise<number> } | undefined;
        let allPgCpu: { since(): number } | undefined;
        let rssMax = 0;
        let sampler: NodeJS.Timeout | undefined;
        let ours!: SaleLoadResult;
        let meshCpuMs = 0;
        let pgCpuMs = 0;
        let allPgCpuMs = 0;
        const counts = await counted(mesh, stats, quiet, concurrency === serverCheckAt, async () => {
          ours = await terminals(load("plain", qrsPlain, warmUpMs), async () => {
            cpu0 = mesh.cpu();
            allPgCpu = mesh.postgresCpu();
            rssMax = mesh.memory().rss;
            sampler = setInterval(() => (rssMax = Math.max(rssMax, mesh.memory().rss)), 250);
            pgCpu = await backendCpuMeter(() => stats.backends(mesh.databaseName));
          });
          // The window ended when the terminals reported; read the meters before anything else runs.
          meshCpuMs = mesh.cpu() - cpu0;
          allPgCpuMs = allPgCpu?.since() ?? 0;
          pgCpuMs = (await pgCpu?.since()) ?? 0;
          clearInterval(sampler);
          rssMax = Math.max(rssMax, mesh.memory().rss);
          return ours.count + ours.warmUpCount;
        });
        const grpcJs = await terminals(load("grpcjs", qrsGrpcJs, grpcJsWarmUpMs), async () => undefined);
        const v = await violations(sys, world.adminToken);
        bestTps = Math.max(bestTps, ours.tps, grpcJs.tps);

        // CPU per sale is what the machine's noise moves least: throughput varies ±20 % from
        // run to run here, the mesh's CPU for a sale much less.
        const perSale = (ms: number, n = ours.count) => (n > 0 ? round(ms / n, 1) : 0);
        const row: Record<string, unknown> = {
          scenario, concurrency, tps: ours.tps, p50_ms: ours.p50_ms, p99_ms: ours.p99_ms,
          baseline_tps: base.tps, ratio: round(ours.tps / Math.max(base.tps, 0.001)),
          floor_tps: floor.tps, ratio_to_floor: round(ours.tps / Math.max(floor.tps, 0.001), 3),
          round_trips_per_sale: counts.roundTrips, commits_per_sale: counts.writeCommits,
          mesh_cpu_ms_per_sale: perSale(meshCpuMs), postgres_cpu_ms_per_sale: perSale(pgCpuMs),
          violations: v, floor_violations: floorViolationCount, errors: ours.errors, declined: ours.declined,
          mesh_rss_mb: rssMax, mesh_peak_rss_mb: mesh.memory().peak,
          grpcjs_tps: grpcJs.tps, grpcjs_p50_ms: grpcJs.p50_ms, grpcjs_p99_ms: grpcJs.p99_ms, grpcjs_errors: grpcJs.errors,
          statements_per_sale: counts.statements, xact_commits_per_sale: counts.serverCommits, wire_xact_commits_per_sale: counts.wireCommits,
          counted_sales: counts.sales, round_trips_by_pool: counts.roundTripsByPool, commits_by_pool: counts.writeCommitsByPool,
          background_round_trips_per_s: counts.background.roundTripsPerS, background_commits_per_s: counts.background.commitsPerS,
          floor_round_trips_per_sale: floor.count > 0 ? round(floor.wire.roundTrips / floor.count, 2) : 0,
          floor_commits_per_sale: floor.count > 0 ? round(floor.wire.writeCommits / floor.count, 2) : 0,
          floor_xact_commits_per_sale: floor.count > 0 ? round((f1.commits - f0.commits - (f1.sessions - f0.sessions)) / floor.count, 2) : 0,
          floor_p50_ms: floor.p50_ms, floor_p99_ms: floor.p99_ms, floor_errors: floor.errors,
          floor_postgres_cpu_ms_per_sale: perSale(floorPgCpuMs, floor.count),
          postgres_all_cpu_ms_per_sale: perSale(allPgCpuMs),
          // Where a sale's CPU goes on this host: the mesh, PostgreSQL, and the terminals
          // themselves. client_bound_tps is the rate the terminals' CPU alone would allow on
          // all of this machine's cores, whatever the server did.
          client_cpu_ms_per_sale: ours.clientCpuMs, grpcjs_client_cpu_ms_per_sale: grpcJs.clientCpuMs,
          client_bound_tps: ours.clientCpuMs > 0 ? Math.round((availableParallelism() * 1000) / ours.clientCpuMs) : 0,
          baseline_client_cpu_ms: base.clientCpuMs, floor_client_cpu_ms: round(floor.clientCpuMs),
          qr_exhausted: ours.exhausted + grpcJs.exhausted,
        };
        if (isHot) {
          const coldRow = rows.find((r) => r.scenario === "authorize-settle-cold" && r.concurrency === concurrency);
          if (coldRow) row.hot_vs_cold = round(ours.tps / Math.max(Number(coldRow.tps), 0.001));
        }
        rows.push(row);
        console.log(JSON.stringify(row));
      }
    }
  } finally {
    await stats.close();
    await floorDb.drop();
  }
  return { rows, targets: targets(rows) };
}

/** The targets, each beside what this run measured (at 32 terminals, or the nearest concurrency run). */
export function targets(rows: Array<Record<string, unknown>>): object[] {
  const at = (scenario: string, c: number) => {
    const mine = rows.filter((r) => r.scenario === scenario);
    return mine.reduce<Record<string, unknown> | undefined>((best, r) =>
      !best || Math.abs(Number(r.concurrency) - c) < Math.abs(Number(best.concurrency) - c) ? r : best, undefined);
  };
  const cold32 = at("authorize-settle-cold", 32);
  const hot32 = at("authorize-settle-hot", 32);
  const cold1 = at("authorize-settle-cold", 1);
  const out: object[] = [];
  const check = (target: string, row: Record<string, unknown> | undefined, column: string, ok: (v: number) => boolean) => {
    if (!row) return;
    const value = Number(row[column]);
    out.push({ target, scenario: String(row.scenario).replace("authorize-settle-", ""), concurrency: row.concurrency, column, value, met: ok(value) ? "yes" : "NO" });
  };
  check("round trips per sale ≤ 10", cold32, "round_trips_per_sale", (v) => v <= 10);
  check("commits per sale ≤ 4", cold32, "commits_per_sale", (v) => v <= 4);
  check("mesh CPU per sale ≤ 2.0 ms", cold32, "mesh_cpu_ms_per_sale", (v) => v <= 2);
  check("PostgreSQL CPU per sale ≤ 2.0 ms", cold32, "postgres_cpu_ms_per_sale", (v) => v <= 2);
  check("ratio to the floor ≥ 0.25", cold32, "ratio_to_floor", (v) => v >= 0.25);
  check("hot ≥ 0.9 × cold", hot32, "hot_vs_cold", (v) => v >= 0.9);
  check("hot ≥ 1.0 × row-lock baseline", hot32, "ratio", (v) => v >= 1);
  check("one terminal: sale p99 ≤ 15 ms", cold1, "p99_ms", (v) => v <= 15);
  const worst = (column: string) => rows.reduce((m, r) => Math.max(m, Number(r[column] ?? 0)), 0);
  out.push({ target: "0 violations", scenario: "all", concurrency: "all", column: "violations", value: worst("violations"), met: worst("violations") === 0 ? "yes" : "NO" });
  out.push({ target: "mesh RSS < 400 MB", scenario: "all", concurrency: "all", column: "mesh_rss_mb", value: worst("mesh_rss_mb"), met: worst("mesh_rss_mb") < 400 ? "yes" : "NO" });
  return out;
}

/**
 * The memory soak: cold sales at 32 terminals for `durationMs` (5 minutes by default),
 * the mesh's resident memory sampled every 10 s. A leak shows as growth that does not
 * level off; the row reports the first, last and largest sample and the growth over
 * the second half of the run, when caches and pools have long filled.
 */
export async function benchSoak(sys: TestSystem, memory: MemoryProbe, durationMs: number): Promise<object[]> {
  const concurrency = 32;
  const world = await seedCold(sys, concurrency);
  const samples: Array<{ atS: number; rss: number }> = [];
  const t0 = performance.now();
  const sample = () => samples.push({ atS: Math.round((performance.now() - t0) / 1000), rss: memory().rss });
  sample();
  const timer = setInterval(sample, 10_000);
  let sales = 0;
  let errors = 0;
  try {
    // QR codes are made in rounds (each sale needs a fresh one), so rounds keep memory of
    // the load generator itself flat too.
    while (performance.now() - t0 < durationMs) {
      const round = Math.min(30_000, durationMs - (performance.now() - t0));
      const r = await driveSales(sys, world, concurrency, round);
      sales += r.count;
      errors += r.errors;
    }
  } finally {
    clearInterval(timer);
  }
  sample();
  const half = samples.filter((s) => s.atS >= durationMs / 2000);
  const row = {
    scenario: "memory-soak-cold", concurrency, seconds: Math.round(durationMs / 1000), sales, errors,
    rss_first_mb: samples[0]!.rss, rss_last_mb: samples.at(-1)!.rss, rss_max_mb: Math.max(...samples.map((s) => s.rss)),
    second_half_growth_mb: half.length > 1 ? half.at(-1)!.rss - half[0]!.rss : 0,
    violations: await violations(sys, world.adminToken),
  };
  console.log(JSON.stringify(row));
  return [row];
}
