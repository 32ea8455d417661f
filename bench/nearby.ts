// Nearby-search benchmark: 100,000 stations over a country-sized area (about Nigeria's
// bounding box, ~1,050 × 1,250 km), SearchNearby through the gateway with gRPC clients
// (a plain one over node:http2, and grpc-js) at concurrency 1 and 32, and in the same
// run the same SQL the handler issues, straight over `pg`, as the baseline. Each query:
// a random point in the area, radius 10 km, nearest first, 20 per page (what a phone
// asks for). Each measurement, ours and the baseline's, runs in a fresh load-generator
// process (bench/nearby-load.ts).
import { spawn } from "node:child_process";
import { appendFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { Role } from "../gen/fuel/common/v1/common_pb.js";
import { createPool, type Pool } from "../platform/db.js";
import * as store from "../services/station/store.js";
import { points, type LoadOptions, type Measured } from "./nearby-load.js";

export interface NearbyBenchOptions {
  gatewayUrl: string;
  databaseUrl: string;
  /** A signed-in caller's access token (any role may search). */
  token: string;
  stations?: number;
  durationMs?: number;
  /** A driver with an open credit line: FindFillUpStations is measured as them. */
  fillUpToken?: string;
}

const AREA = { minLat: 4.3, maxLat: 13.8, minLng: 2.7, maxLng: 14.6 };
const RADIUS_M = 10_000;
const PAGE_SIZE = 20;

/** Seeds `n` ACTIVE stations (with a PETROL price each) unless they are already there. */
export async function seed(pool: Pool, n: number): Promise<{ seeded: boolean; ms: number }> {
  const t0 = Date.now();
  const have = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM station.stations WHERE created_by = 'bench'`);
  if ((have.rows[0]?.n ?? 0) >= n) return { seeded: false, ms: Date.now() - t0 };
  const merchantId = randomUUID();
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query(`SELECT setseed(0.42)`);
    await client.query(
      `INSERT INTO station.stations (station_id, merchant_id, name, address, latitude, longitude, currency, time_zone,
         always_open, periods, pumps, fuel_types, status, created_by, create_time, update_time)
       SELECT gen_random_uuid(), $1, 'Bench ' || i,
         '{"line1":"1 Bench Road","line2":"","city":"Bench","region":"","postal_code":"","country_code":"NG"}',
         $2::float8 + random() * ($3::float8 - $2::float8), $4::float8 + random() * ($5::float8 - $4::float8), 'NGN', 'Africa/Lagos', (i % 4 <> 0),
         CASE WHEN i % 4 = 0 THEN '[{"weekday":1,"open":360,"close":1320},{"weekday":2,"open":360,"close":1320},{"weekday":3,"open":360,"close":1320},{"weekday":4,"open":360,"close":1320},{"weekday":5,"open":360,"close":1320},{"weekday":6,"open":420,"close":1200}]'::jsonb ELSE '[]'::jsonb END,
         '[{"pump_id":"00000000-0000-4000-8000-000000000001","label":"1","fuel_types":["PETROL","DIESEL"]}]', ARRAY['PETROL','DIESEL'],
         'ACTIVE', 'bench', now(), now()
       FROM generate_series(1, $6::int) AS i`,
      [merchantId, AREA.minLat, AREA.maxLat, AREA.minLng, AREA.maxLng, n],
    );
    await client.query(
      `INSERT INTO station.fuel_availability (station_id, fuel_type, in_stock, price_minor_per_litre, currency, update_time,
         price_update_time, updated_by, updated_by_role)
       SELECT station_id, 'PETROL', random() > 0.1, 60000 + floor(random() * 8000)::bigint, 'NGN', now(), now(), 'bench', 'MERCHANT_ADMIN'
       FROM station.stations WHERE merchant_id = $1`,
      [merchantId],
    );
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
  // VACUUM too, not only ANALYZE: after a bulk load autovacuum would otherwise choose
  // the first measurement to vacuum 100,000 fresh rows, on the same two cores.
  await pool.query(`VACUUM (ANALYZE) station.stations`);
  await pool.query(`VACUUM (ANALYZE) station.fuel_availability`);
  await steadyState(pool);
  return { seeded: true, ms: Date.now() - t0 };
}

/**
 * Measure the steady state, not the bulk load's aftermath. Without this, the checkpoint
 * that writes the load's 70 MB of dirty pages ran during the first measurement (the
 * gateway's), and so did every first touch of a table or index page, while the baseline,
 * measured right after, found a quiet server and warm buffers: at concurrency 1 one
 * request in five through the gateway took over 10 ms, and its p99 doubled. CHECKPOINT
 * needs a superuser and pg_prewarm the contrib package; the bench goes on without either.
 */
async function steadyState(pool: Pool): Promise<void> {
  await pool.query("CHECKPOINT").catch(() => undefined);
  try {
    await pool.query("CREATE EXTENSION IF NOT EXISTS pg_prewarm");
    await pool.query(
      `SELECT pg_prewarm(c.oid) FROM pg_class c
       WHERE c.oid IN ('station.stations'::regclass, 'station.fuel_availability'::regclass)
          OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid IN ('station.stations'::regclass, 'station.fuel_availability'::regclass))`,
    );
  } catch {
    // No pg_prewarm: the searches' own warm-up has to do.
  }
}

const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

/** One measurement by a fresh load-generator process (bench/nearby-load.ts). */
async function load(opts: Omit<LoadOptions, "area" | "radiusM" | "pageSize">): Promise<Measured> {
  const args = ["--import", "tsx", fileURLToPath(new URL("./nearby-load.ts", import.meta.url)), JSON.stringify({ ...opts, area: AREA, radiusM: RADIUS_M, pageSize: PAGE_SIZE })];
  // A fixed 16 MB young generation and a collection just before the measured window
  // (nearby-load.ts): V8 otherwise starts a fresh process at 1 MB and collects every
  // ~300 ms, 5 ms each on average and up to 29 ms on these shared cores, and those pauses
  // of the client were a good part of the measured p99 at concurrency 1.
  const heap = ["--expose-gc", "--min-semi-space-size=16", "--max-semi-space-size=16"];
  const child = spawn(process.execPath, [...heap, ...(process.env.BENCH_LOAD_NODE_ARGS ?? "").split(" ").filter(Boolean), ...args], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  // BENCH_LOAD_LOG: a file to append each load generator's output to (with --trace-gc in
  // BENCH_LOAD_NODE_ARGS, say).
  if (process.env.BENCH_LOAD_LOG) appendFileSync(process.env.BENCH_LOAD_LOG, `== ${opts.mode} c=${opts.concurrency}\n${out}`);
  if (code !== 0) throw new Error(`nearby load generator (${opts.mode}, c=${opts.concurrency}) exited with ${code}`);
  return JSON.parse(out.trim().split("\n").at(-1)!) as Measured;
}

export async function benchNearby(opts: NearbyBenchOptions): Promise<object[]> {
  const stations = opts.stations ?? 100_000;
  const durationMs = opts.durationMs ?? 5_000;
  const pool = createPool({ connectionString: opts.databaseUrl, max: 4, application: "bench-nearby" });
  try {
    const seeded = await seed(pool, stations);
    const at = points(AREA, 1)[0]!;

    // Which plan the handler's query gets on this data.
    const sample = store.nearbySql({ center: at, radiusM: RADIUS_M, fuelType: null, sort: "DISTANCE", after: null, limit: PAGE_SIZE + 2, withFuels: true });
    const plan = (await pool.query(`EXPLAIN ${sample.text}`, sample.values)).rows.map((r: Record<string, string>) => r["QUERY PLAN"]).join("\n");
    const planName = /Order By: \(geo/.test(plan) ? "gist-knn" : /stations_geo/.test(plan) ? "gist-box+sort" : "no-index";

    const out: object[] = [];
    for (const concurrency of [1, 32]) {
      const common = { gatewayUrl: opts.gatewayUrl, databaseUrl: opts.databaseUrl, token: opts.token, concurrency, durationMs };
      // Headline: the plain gRPC client (bench/nearby-load.ts says why); grpc-js beside it.
      const viaGateway = await load({ mode: "gateway", ...common });
      const grpcJs = await load({ mode: "gateway-grpcjs", ...common });
      // The same through a grpc-js client that builds every message, at concurrency 1 only.
      const decoding = concurrency === 1 ? await load({ mode: "gateway-decoding", ...common }) : undefined;
      // Baseline: the same query the handler runs (stations with their fuels), straight over pg.
      const bare = await load({ mode: "sql", ...common });
      out.push({
        scenario: "nearby",
        concurrency,
        stations,
        tps: round(viaGateway.tps, 1),
        p50_ms: round(viaGateway.p50),
        p99_ms: round(viaGateway.p99),
        baseline_tps: round(bare.tps, 1),
        baseline_p50_ms: round(bare.p50),
        baseline_p99_ms: round(bare.p99),
        ratio: round(viaGateway.tps / bare.tps, 3),
        grpcjs_tps: round(grpcJs.tps, 1),
        grpcjs_p50_ms: round(grpcJs.p50),
        grpcjs_p99_ms: round(grpcJs.p99),
        ...(decoding ? { decoding_client_p50_ms: round(decoding.p50), decoding_client_p99_ms: round(decoding.p99) } : {}),
        // Each client's own CPU per request (ms, all its threads): on these two cores it is
        // on the path of every request at concurrency 1.
        client_cpu_ms: round(viaGateway.cpuMs),
        grpcjs_client_cpu_ms: round(grpcJs.cpuMs),
        baseline_client_cpu_ms: round(bare.cpuMs),
        radius_m: RADIUS_M,
        page_size: PAGE_SIZE,
        avg_results: round(viaGateway.results / Math.max(1, viaGateway.count), 1),
        plan: planName,
        seed_ms: seeded.seeded ? seeded.ms : 0,
      });
    }
    // "Where can I fill up now" for a driver with a line, at one phone (its p99 target is
    // the nearby one: ≤ 10 ms at concurrency 1): the credit hop, the query, the litres.
    if (opts.fillUpToken) {
      const common = { gatewayUrl: opts.gatewayUrl, databaseUrl: opts.databaseUrl, token: opts.fillUpToken, concurrency: 1, durationMs };
      const fill = await load({ mode: "fillup", ...common });
      const bare = await load({ mode: "fillup-sql", ...common });
      out.push({
        scenario: "fill-up",
        concurrency: 1,
        stations,
        tps: round(fill.tps, 1),
        p50_ms: round(fill.p50),
        p99_ms: round(fill.p99),
        baseline_tps: round(bare.tps, 1),
        baseline_p50_ms: round(bare.p50),
        baseline_p99_ms: round(bare.p99),
        ratio: round(fill.tps / bare.tps, 3),
        client_cpu_ms: round(fill.cpuMs),
        baseline_client_cpu_ms: round(bare.cpuMs),
        radius_m: RADIUS_M,
        page_size: PAGE_SIZE,
        avg_results: round(fill.results / Math.max(1, fill.count), 1),
      });
    }
    return out;
  } finally {
    await pool.end();
  }
}

// `node --import tsx bench/nearby.ts` on its own: starts the system like bench/run.ts.
if (import.meta.url === `file://${process.argv[1]}`) {
  const { startTestSystem } = await import("../test/helpers/system.js");
  const { mintAccessToken, principal } = await import("../test/helpers/tokens.js");
  const sys = await startTestSystem({ env: { LOG_LEVEL: "error", RATE_LIMIT_PER_MINUTE: "1000000" } });
  try {
    const token = await mintAccessToken(sys, principal(Role.DRIVER, { driverId: randomUUID() }));
    for (const r of await benchNearby({ gatewayUrl: sys.gatewayUrl, databaseUrl: sys.databaseUrl, token })) console.log(JSON.stringify(r));
  } finally {
    await sys.stop();
  }
  process.exit(0);
}
