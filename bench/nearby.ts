// Nearby-search benchmark: 100,000 stations over a country-sized area (about Nigeria's
// bounding box, ~1,050 × 1,250 km), SearchNearby through the gateway with grpc-js clients
// at concurrency 1 and 32, and in the same run the same SQL the handler issues, straight
// over `pg`, as the baseline. Each query: a random point in the area, radius 10 km,
// nearest first, 20 per page (what a phone asks for).
import { randomUUID } from "node:crypto";
import { Role } from "../gen/fuel/common/v1/common_pb.js";
import { StationService } from "../gen/fuel/station/v1/station_pb.js";
import { createPool, type Pool } from "../platform/db.js";
import * as store from "../services/station/store.js";
import { GrpcJsClient } from "../test/helpers/clients.js";

export interface NearbyBenchOptions {
  gatewayUrl: string;
  databaseUrl: string;
  /** A signed-in caller's access token (any role may search). */
  token: string;
  stations?: number;
  durationMs?: number;
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
  return { seeded: true, ms: Date.now() - t0 };
}

/** Deterministic pseudo-random search points inside the area. */
export function points(count: number): Array<{ latitude: number; longitude: number }> {
  let x = 123456789;
  const rnd = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648);
  return Array.from({ length: count }, () => ({
    latitude: AREA.minLat + rnd() * (AREA.maxLat - AREA.minLat),
    longitude: AREA.minLng + rnd() * (AREA.maxLng - AREA.minLng),
  }));
}

interface Measured {
  tps: number;
  p50: number;
  p99: number;
  count: number;
  results: number;
}

/** Runs `op` from `concurrency` workers for `durationMs` (after a short warm-up). */
async function measure(concurrency: number, durationMs: number, op: (worker: number, i: number) => Promise<number>): Promise<Measured> {
  const warmUntil = Date.now() + Math.min(500, durationMs / 5);
  await Promise.all(Array.from({ length: concurrency }, async (_, w) => {
    for (let i = 0; Date.now() < warmUntil; i++) await op(w, i);
  }));
  const latencies: number[] = [];
  let results = 0;
  const start = performance.now();
  const end = Date.now() + durationMs;
  await Promise.all(Array.from({ length: concurrency }, async (_, w) => {
    for (let i = 0; Date.now() < end; i++) {
      const t = performance.now();
      const found = await op(w, i * concurrency + w);
      results += found;
      latencies.push(performance.now() - t);
    }
  }));
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * (latencies.length - 1)))] ?? 0;
  return { tps: latencies.length / elapsed, p50: pct(0.5), p99: pct(0.99), count: latencies.length, results };
}

const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

export async function benchNearby(opts: NearbyBenchOptions): Promise<object[]> {
  const stations = opts.stations ?? 100_000;
  const durationMs = opts.durationMs ?? 5_000;
  const pool = createPool({ connectionString: opts.databaseUrl, max: 32, application: "bench-nearby" });
  const clients: Array<GrpcJsClient<typeof StationService>> = [];
  try {
    const seeded = await seed(pool, stations);
    const pts = points(4096);
    const pt = (i: number) => pts[i % pts.length]!;

    // Which plan the handler's query gets on this data.
    const sample = store.nearbySql({ center: pt(0), radiusM: RADIUS_M, fuelType: null, sort: "DISTANCE", after: null, limit: PAGE_SIZE + 2, withFuels: true });
    const plan = (await pool.query(`EXPLAIN ${sample.text}`, sample.values)).rows.map((r: Record<string, string>) => r["QUERY PLAN"]).join("\n");
    const planName = /Order By: \(geo/.test(plan) ? "gist-knn" : /stations_geo/.test(plan) ? "gist-box+sort" : "no-index";

    const out: object[] = [];
    for (const concurrency of [1, 32]) {
      while (clients.length < concurrency) clients.push(new GrpcJsClient(StationService, opts.gatewayUrl, opts.token));
      const viaGateway = await measure(concurrency, durationMs, async (w, i) => {
        const res = await clients[w]!.unary(StationService.method.searchNearby, { location: pt(i), radiusM: RADIUS_M, pageSize: PAGE_SIZE });
        return res.message.results.length;
      });
      // Baseline: the same query the handler runs (stations with their fuels), straight over pg.
      const bare = await measure(concurrency, durationMs, async (_, i) => {
        const rows = await store.nearby(pool, { center: pt(i), radiusM: RADIUS_M, fuelType: null, sort: "DISTANCE", after: null, limit: PAGE_SIZE + 1, withFuels: true });
        return Math.min(rows.length, PAGE_SIZE);
      });
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
        radius_m: RADIUS_M,
        page_size: PAGE_SIZE,
        avg_results: round(viaGateway.results / Math.max(1, viaGateway.count), 1),
        plan: planName,
        seed_ms: seeded.seeded ? seeded.ms : 0,
      });
    }
    return out;
  } finally {
    for (const c of clients) c.close();
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
