// `npm run bench`: starts the mesh against the configured PostgreSQL and Redis (a fresh
// database per run on the server in DATABASE_URL; embedded defaults otherwise), runs each
// scenario, prints a table and one JSON line per measurement. Every figure is reported
// next to a baseline measured in the same run, because this machine is noisy.
import { Role } from "../gen/fuel/common/v1/common_pb.js";
import type { TestSystem } from "../test/helpers/system.js";
import { mintAccessToken, principal } from "../test/helpers/tokens.js";
import { Fixtures } from "../test/credit-fixtures.js";
import { cpuMeter, startMeshProcess } from "./mesh-process.js";
import { benchNearby } from "./nearby.js";
import { benchGrpcEdge } from "./grpc-edge.js";
import { benchAuthorizeSettle, benchSoak } from "./authorize-settle.js";

type Row = Record<string, unknown>;

function table(rows: Row[]): string {
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cells = rows.map((r) => cols.map((c) => String(r[c] ?? "")));
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join("  ");
  return [line(cols), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}

const AUTHORIZE_SETTLE_COLUMNS = [
  "scenario", "concurrency", "tps", "p50_ms", "p99_ms", "baseline_tps", "ratio", "floor_tps", "ratio_to_floor",
  "round_trips_per_sale", "commits_per_sale", "mesh_cpu_ms_per_sale", "postgres_cpu_ms_per_sale", "hot_vs_cold",
  "violations", "mesh_rss_mb", "grpcjs_tps", "grpcjs_p99_ms",
];

function pick(row: Row, columns: string[]): Row {
  return Object.fromEntries(columns.filter((c) => c in row).map((c) => [c, row[c]]));
}

/** A KYC-verified driver with an open line at a lending bank, for the fill-up search. */
async function fillUpDriver(sys: TestSystem): Promise<string> {
  const fx = await Fixtures.create(sys);
  const bank = await fx.bank(1_000_000_000n);
  const d = await fx.driver();
  await bank.credit.createCreditLine({ owner: { case: "driverId", value: d.driverId }, currency: "NGN" });
  return d.token;
}

async function main(): Promise<void> {
  const only = process.argv[2];
  // Terminals in the bench issue far more QR codes per driver than any person would. The
  // mesh's pools stay small (8 services × 4) so the SQL baselines' sessions (at most 32,
  // bench/sale-floor.ts SQL_MAX_CLIENTS) still fit under PostgreSQL's default
  // max_connections of 100, with room for others on a shared server.
  process.env.TRANSACTION_QR_PER_MINUTE ??= "10000";
  const mesh = await startMeshProcess({
    RATE_LIMIT_PER_MINUTE: "1000000",
    PG_POOL_MAX: "4",
    TRANSACTION_QR_PER_MINUTE: process.env.TRANSACTION_QR_PER_MINUTE!,
  });
  // What the seeding and token helpers need of a system: its config, database and gateway.
  const sys = mesh as unknown as TestSystem;
  const rows: Row[] = [];
  const targetRows: Row[] = [];
  try {
    const token = await mintAccessToken(sys, principal(Role.DRIVER, { driverId: "00000000-0000-4000-8000-000000000001" }));
    if (!only || only === "authorize-settle") {
      const quick = process.env.BENCH_QUICK === "1";
      const r = await benchAuthorizeSettle(sys, {
        memory: mesh.memoryMb, cpu: mesh.cpuMs, postgresCpu: () => cpuMeter("postgres"),
        databaseName: mesh.databaseName, wireCountersPort: mesh.wireCountersPort, adminUrl: process.env.DATABASE_URL!,
      }, quick ? { durationMs: 2_000, warmUpMs: 1_000, concurrencies: [1, 8], hotDrivers: 50 } : {});
      // The table shows the headline columns; each measurement's JSON line has them all.
      rows.push(...r.rows.map((row) => pick(row as Row, AUTHORIZE_SETTLE_COLUMNS)));
      targetRows.push(...(r.targets as Row[]));
    }
    if (only === "soak") {
      rows.push(...((await benchSoak(sys, mesh.memoryMb, Number(process.env.BENCH_SOAK_MS ?? 300_000))) as Row[]));
    }
    if (!only || only === "grpc-edge") {
      for (const r of await benchGrpcEdge(sys.gatewayUrl.replace(/^https?:\/\//, ""))) {
        rows.push(r as Row);
        console.log(JSON.stringify(r));
      }
    }
    if (!only || only === "nearby") {
      const fillUpToken = await fillUpDriver(sys);
      for (const r of await benchNearby({ gatewayUrl: sys.gatewayUrl, databaseUrl: sys.databaseUrl, token, fillUpToken })) {
        rows.push(r as Row);
        console.log(JSON.stringify(r));
      }
    }
  } finally {
    await mesh.stop();
  }
  console.log(`\n${table(rows)}`);
  if (targetRows.length > 0) console.log(`\nissue 13 targets (authorize-settle):\n${table(targetRows)}`);
  console.log(`\npostgres: ${process.env.DATABASE_URL ? "real (DATABASE_URL)" : "embedded PGlite"}, redis: ${process.env.REDIS_URL ? "real" : "in-process"}`);
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(1);
});
