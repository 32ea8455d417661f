// authorize-settle-{cold,hot}: POS terminals (grpc-js, through the gateway) authorizing a
// driver's QR and settling it, at several concurrencies; and in the same run the SQL a
// hold + capture needs, issued straight over `pg` at the same concurrency, as the
// baseline. Cold: every worker has its own driver and line. Hot: every driver draws on
// one agency line. After each measurement CreditService.VerifyLedger must be clean.
import { randomUUID } from "node:crypto";
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

/** Each sale needs a fresh QR from the driver's app; make them before the clock starts. */
export async function prepareQrs(sys: TestSystem, world: World, concurrency: number, durationMs: number): Promise<string[][]> {
  // Enough for 150 sales/s (three times what the mesh does today); a worker that runs
  // out simply stops early, and throughput is still sales over elapsed time.
  const perWorker = Math.max(20, Math.ceil((durationMs / 1000) * 150 / concurrency));
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
  const pool = new pg.Pool({ connectionString: databaseUrl, max: concurrency });
  pool.on("error", () => undefined); // an idle client dropped by the server is replaced on demand
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

/** Samples the mesh's resident memory while `run` goes; returns its result and the maximum seen. */
async function sampled<T>(memory: MemoryProbe | undefined, run: () => Promise<T>): Promise<[T, number]> {
  let max = memory?.().rss ?? 0;
  const timer = memory ? setInterval(() => (max = Math.max(max, memory().rss)), 250) : undefined;
  try {
    return [await run(), Math.max(max, memory?.().rss ?? 0)];
  } finally {
    clearInterval(timer);
  }
}

export async function benchAuthorizeSettle(sys: TestSystem, opts: { durationMs?: number; concurrencies?: number[]; hotDrivers?: number; memory?: MemoryProbe; cpu?: CpuProbe; postgresCpu?: CpuMeterFactory } = {}): Promise<object[]> {
  const durationMs = opts.durationMs ?? 5_000;
  const concurrencies = opts.concurrencies ?? [1, 8, 32, 64];
  const rows: object[] = [];
  const maxC = Math.max(...concurrencies);
  const cold = await seedCold(sys, maxC);
  const hot = await seedHot(sys, opts.hotDrivers ?? 1000);
  for (const [scenario, world, isHot] of [["authorize-settle-cold", cold, false], ["authorize-settle-hot", hot, true]] as const) {
    for (const concurrency of concurrencies) {
      const base = await sqlBaseline(sys.databaseUrl, concurrency, durationMs, isHot);
      const qrs = await prepareQrs(sys, world, concurrency, durationMs);
      const cpu0 = opts.cpu?.() ?? 0;
      const pgCpu = opts.postgresCpu?.();
      const [ours, rssMb] = await sampled(opts.memory, () => driveSales(sys, world, concurrency, durationMs, qrs));
      // CPU per sale is what the machine's noise moves least: throughput varies ±20 % from
      // run to run here, the mesh's CPU for a sale much less.
      const perSale = (ms: number) => (ours.count > 0 ? Math.round((ms / ours.count) * 10) / 10 : 0);
      const cpuPerSale = opts.cpu ? perSale(opts.cpu() - cpu0) : 0;
      const pgCpuPerSale = pgCpu ? perSale(pgCpu.since()) : 0;
      const v = await violations(sys, world.adminToken);
      const row = {
        scenario, concurrency, tps: ours.tps, p50_ms: ours.p50_ms, p99_ms: ours.p99_ms, baseline_tps: base.tps,
        ratio: Math.round((ours.tps / Math.max(base.tps, 0.001)) * 100) / 100, violations: v, errors: ours.errors, declined: ours.declined,
        mesh_rss_mb: rssMb, mesh_peak_rss_mb: opts.memory?.().peak ?? 0, mesh_cpu_ms_per_sale: cpuPerSale,
        // Where a sale's CPU goes on this host: the mesh, PostgreSQL (all its processes),
        // and the terminals themselves (grpc-js in this process). The terminals share the
        // machine with the server here; client_bound_tps is the rate their CPU alone
        // would allow on all of this machine's cores, whatever the server did.
        postgres_cpu_ms_per_sale: pgCpuPerSale, client_cpu_ms_per_sale: ours.clientCpuMs,
        client_bound_tps: ours.clientCpuMs > 0 ? Math.round((availableParallelism() * 1000) / ours.clientCpuMs) : 0,
        baseline_client_cpu_ms: base.clientCpuMs,
      };
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  }
  return rows;
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
