// Prometheus metrics (prom-client), one registry per process, served by metrics-server.ts.
// Every metric here has bounded labels: service and pool names are constants, method
// names come from descriptors, codes from the gRPC set — never an id or a phone.
// Gauges that need SQL read it through `Sampled`: once per METRICS_CACHE_MS at most, under
// a statement timeout, so a storm of scrapes costs PostgreSQL one query per period.
import type { DescMethod } from "@bufbuild/protobuf";
import { Counter, Gauge, Histogram, register } from "prom-client";
import { withTx, type Pool } from "./db.js";

export const registry = register;

// ---- RPCs -----------------------------------------------------------------------------

/** gRPC status names, indexed by code (Connect's Code enum uses the same numbers). */
const CODE_NAMES = [
  "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
  "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
  "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
] as const;

/** Seconds; a sale's steps take 1–20 ms here, a deadline ends a call at 30 s at most. */
const RPC_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const rpcDuration = new Histogram({
  name: "fuel_rpc_server_duration_seconds",
  help: "Time from a call's arrival to its answer (a stream: to its end), by serving component, method and gRPC status code. Its _count is the call rate.",
  labelNames: ["service", "method", "code"] as const,
  buckets: RPC_BUCKETS_S,
});

type Observer = { observe(value: number): void };
export type RpcRecorder = (method: DescMethod, code: number, seconds: number) => void;

/**
 * The recorder of one serving component. Called once per call on the hot path: the
 * labelled series is looked up once per method and code and kept, so a call costs one
 * observation.
 */
export function rpcRecorder(service: string): RpcRecorder {
  const series = new WeakMap<DescMethod, Observer[]>();
  return (method, code, seconds) => {
    let byCode = series.get(method);
    if (!byCode) {
      byCode = [];
      series.set(method, byCode);
    }
    let s = byCode[code];
    if (!s) {
      s = rpcDuration.labels(service, `${method.parent.typeName}/${method.name}`, CODE_NAMES[code] ?? "UNKNOWN");
      byCode[code] = s;
    }
    s.observe(seconds);
  };
}

// ---- rate limits ----------------------------------------------------------------------

export const rateLimitRefusals = new Counter({
  name: "fuel_rate_limit_refusals_total",
  help: "Calls refused RESOURCE_EXHAUSTED because their budget was spent, by budget (edge = a caller's per-minute budget).",
  labelNames: ["budget"] as const,
});

// ---- PostgreSQL pools -------------------------------------------------------------------

interface TrackedPool {
  name: string;
  pool: Pool;
}
const pools = new Set<TrackedPool>();

/** Reports `pool` under `name` (its application_name: a service's pool is named after it) until it ends. */
export function trackPool(name: string, pool: Pool): void {
  pools.add({ name, pool });
}

function poolGauge(name: string, help: string, read: (p: Pool) => number): Gauge<"pool"> {
  return new Gauge({
    name,
    help,
    labelNames: ["pool"] as const,
    collect() {
      const sums = new Map<string, number>();
      for (const t of pools) {
        if (t.pool.ended) {
          pools.delete(t);
          continue;
        }
        sums.set(t.name, (sums.get(t.name) ?? 0) + read(t.pool));
      }
      this.reset();
      for (const [pool, v] of sums) this.set({ pool }, v);
    },
  });
}

poolGauge("fuel_db_pool_connections", "Open PostgreSQL connections of the pool (in use + idle).", (p) => p.totalCount);
poolGauge("fuel_db_pool_idle_connections", "Open PostgreSQL connections of the pool not lent to anyone.", (p) => p.idleCount);
poolGauge("fuel_db_pool_waiting_requests", "Callers waiting for a connection of the pool (the pool is at its maximum).", (p) => p.waitingCount);
poolGauge("fuel_db_pool_max_connections", "The pool's maximum (PG_POOL_MAX).", (p) => p.options.max ?? 10);

// ---- gauges read from SQL -------------------------------------------------------------

/** How long a gauge's SQL may run, and how long a scrape waits for it (connection included). */
export const SAMPLE_TIMEOUT_MS = 2_000;
let sampleCacheMs = 5_000;

/** METRICS_CACHE_MS: how long a gauge's SQL result is reused (0 = every scrape reads). */
export function setSampleCacheMs(ms: number): void {
  sampleCacheMs = ms;
}

const collectFailures = new Counter({
  name: "fuel_metrics_collect_failures_total",
  help: "Gauge reads that failed or timed out (the gauge then has no value until the next read succeeds), by source.",
  labelNames: ["source"] as const,
});

/**
 * A read feeding gauges: run at most once per METRICS_CACHE_MS (a read in flight is
 * shared), given up on after SAMPLE_TIMEOUT_MS. A failure is kept for the same period,
 * so a database that does not answer is not asked again by every scrape.
 */
export class Sampled<T> {
  private at = Number.NEGATIVE_INFINITY;
  private value: Promise<T> | undefined;
  private inFlight = false;

  constructor(private readonly source: string, private readonly read: () => Promise<T>) {}

  get(): Promise<T> {
    const now = performance.now();
    if (this.value && (this.inFlight || now - this.at < sampleCacheMs)) return this.value;
    this.at = now;
    this.inFlight = true;
    const p = withTimeout(this.read(), SAMPLE_TIMEOUT_MS, this.source);
    this.value = p;
    p.then(
      () => (this.inFlight = false),
      () => {
        this.inFlight = false;
        collectFailures.inc({ source: this.source });
      },
    );
    return p;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Rows of one read-only statement, cut off by PostgreSQL after SAMPLE_TIMEOUT_MS. */
export async function boundedRead<R>(pool: Pool, sql: string, params: unknown[] = []): Promise<R[]> {
  return await withTx(pool, async (tx) => {
    await tx.query(`SET LOCAL statement_timeout = ${SAMPLE_TIMEOUT_MS}`);
    return (await tx.query(sql, params)).rows as R[];
  });
}
