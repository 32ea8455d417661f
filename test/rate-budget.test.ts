// The per-caller budget under concurrency, end to end: two gateway replicas, each a mesh
// process of its own (bin/mesh.ts with SERVICES=gateway) sharing the suite's Redis, and one
// signed-in caller sending reads through both with 1, 8 and 50 calls in flight until the
// first refusal. Whatever the concurrency, the caller gets between 98 % and 100 % of its
// budget in the window, never more: calls arriving together share one lease request, and
// the points each replica holds when the caller is refused are at most a partial slice.
import type { ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import * as grpc from "@grpc/grpc-js";
import { Role } from "../gen/fuel/common/v1/common_pb.js";
import { StationService } from "../gen/fuel/station/v1/station_pb.js";
import { freePort } from "../bin/system.js";
import { SERVICE_NAMES } from "../platform/config.js";
import { leaseSize } from "../platform/rate-lease.js";
import { GrpcJsClient, type GrpcJsError } from "./helpers/clients.js";
import { realRedis, startTestSystem, type TestSystem } from "./helpers/system.js";
import { exited, startMesh } from "./helpers/mesh-child.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";

/** The default budget: slices of 6, where calls arriving together cost the most. */
const BUDGET = 600;
/** What a caller must get of its budget in one window, whatever its concurrency. */
const FLOOR = Math.ceil(BUDGET * 0.98);
/** A run must end well inside the limiter's fixed 60 s window, or its count spans two. */
const RUN_MAX_MS = 45_000;

const test = suite("rate budget");
let sys: TestSystem;
const gateways: Array<{ proc: ChildProcess; url: string }> = [];

/** A gateway replica in a process of its own, forwarding to the suite's services. */
async function startGatewayReplica(): Promise<{ proc: ChildProcess; url: string }> {
  const port = await freePort();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    SERVICES: "gateway",
    PORT: String(port),
    DATABASE_URL: sys.databaseUrl,
    REDIS_URL: process.env.REDIS_URL!,
    MESH_SECRET: Buffer.from(sys.cfg.meshSecret).toString("base64"),
    RATE_LIMIT_PER_MINUTE: String(BUDGET),
    DEV_INBOX_PORT: "-1",
    LOG_LEVEL: "warn",
  };
  for (const s of SERVICE_NAMES) env[`${s.toUpperCase()}_URL`] = sys.cfg.urls[s];
  const { proc } = await startMesh(env);
  gateways.push({ proc, url: `http://127.0.0.1:${port}` });
  return gateways.at(-1)!;
}

test.before(async () => {
  if (!realRedis()) return;
  sys = await startTestSystem({ services: ["auth", "station"], gateway: false });
  await Promise.all([startGatewayReplica(), startGatewayReplica()]);
});

test.after(async () => {
  for (const g of gateways) {
    if (g.proc.exitCode === null && g.proc.signalCode === null) g.proc.kill("SIGTERM");
    await exited(g.proc);
  }
  await sys?.stop();
});

const search = { location: { latitude: 6.45, longitude: 3.39 }, radiusM: 1000, pageSize: 5 };

interface Run {
  granted: number;
  ms: number;
  /** What is left of the caller's window in Redis after the run. */
  windowLeftMs: number;
}

/**
 * A fresh caller (so a fresh window, starting at its first call) sends reads with
 * `concurrency` in flight, alternating between the two replicas, and sends no new call
 * once one is refused. Counts the calls answered OK.
 */
async function drive(concurrency: number): Promise<Run> {
  const subjectId = randomUUID();
  const token = await mintAccessToken(sys, principal(Role.DRIVER, { subjectId, driverId: randomUUID() }));
  const clients = gateways.map((g) => new GrpcJsClient(StationService, g.url, token));
  let granted = 0;
  let sent = 0;
  let refused = false;
  const started = performance.now();
  try {
    const worker = async () => {
      while (!refused) {
        if (++sent > 3 * BUDGET) throw new Error(`the budget of ${BUDGET} never ran out`);
        try {
          await clients[sent % clients.length]!.unary(StationService.method.searchNearby, search);
          granted++;
        } catch (err) {
          const code = (err as GrpcJsError).code;
          assert.is(code, grpc.status.RESOURCE_EXHAUSTED, `a call failed with ${grpc.status[code]}: ${(err as Error).message}`);
          refused = true;
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    for (const c of clients) c.close();
  }
  const ms = performance.now() - started;
  const windowLeftMs = await sys.infra.kv.redis!.pttl(`rl:edge:sub:${subjectId}`);
  return { granted, ms, windowLeftMs };
}

test("a caller gets 98–100 % of its budget in a window through two replicas, at 1, 8 and 50 calls in flight", async () => {
  if (!realRedis()) {
    console.log("  (rate budget: leases exist only on a real Redis; CI sets REDIS_URL)");
    return;
  }
  assert.is(leaseSize(BUDGET), 6, "slices of 6: leasing is on");
  const runs = new Map<number, Run>();
  for (const c of [1, 8, 50]) runs.set(c, await drive(c));
  const figures = [...runs].map(([c, r]) => `c=${c} → ${r.granted}`).join(", ");
  console.log(`  budget ${BUDGET}: ${figures} (${[...runs].map(([c, r]) => `c=${c} ${r.ms.toFixed(0)} ms`).join(", ")})`);
  for (const [c, r] of runs) {
    // The caller is fresh, so its window opened at the run's first call; the run ended
    // well within 60 s and the window's key is still there: every call fell in that window.
    assert.ok(r.ms < RUN_MAX_MS, `c=${c}: the run took ${r.ms.toFixed(0)} ms, too close to the 60 s window`);
    assert.ok(r.windowLeftMs > 0, `c=${c}: the window ended during the run`);
    assert.ok(r.granted <= BUDGET, `c=${c}: ${r.granted} calls granted, more than the budget of ${BUDGET}`);
    assert.ok(r.granted >= FLOOR, `c=${c}: only ${r.granted} of ${BUDGET} granted (at least ${FLOOR} expected)`);
  }
});

test.run();
