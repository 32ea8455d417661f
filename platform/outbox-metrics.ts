// What every outbox reports: how much waits and for how long (read from its table on
// scrape, see metrics.ts Sampled), and what became of each delivery attempt. An outbox is
// named after the service that owns it: kyc, loan, payment, notification.
import { Counter, Gauge } from "prom-client";
import type { Pool } from "./db.js";
import { boundedRead, Sampled } from "./metrics.js";

/** Rows counted at most; past this the backlog reads as this number and the age is of these rows. */
export const BACKLOG_COUNT_MAX = 100_000;

export interface OutboxSample {
  backlog: number;
  oldestAgeSeconds: number;
}

const sources = new Map<string, Sampled<OutboxSample>>();

/** Each watched outbox's sample; one whose read failed is left out (no value rather than a stale one; the failure is counted). */
async function samples(): Promise<Array<[string, OutboxSample]>> {
  const read = await Promise.all([...sources].map(async ([outbox, sampled]) => [outbox, await sampled.get().catch(() => null)] as const));
  return read.filter((r): r is [string, OutboxSample] => r[1] !== null);
}

new Gauge({
  name: "fuel_outbox_backlog",
  help: `Rows waiting in an outbox (not yet delivered nor given up on; counted up to ${BACKLOG_COUNT_MAX}). Every replica of the owner reports the same table: aggregate with max.`,
  labelNames: ["outbox"] as const,
  async collect() {
    const read = await samples();
    this.reset();
    for (const [outbox, s] of read) this.set({ outbox }, s.backlog);
  },
});

new Gauge({
  name: "fuel_outbox_oldest_age_seconds",
  help: "Age of the oldest row waiting in an outbox (0 when none waits): how late its work is.",
  labelNames: ["outbox"] as const,
  async collect() {
    const read = await samples();
    this.reset();
    for (const [outbox, s] of read) this.set({ outbox }, s.oldestAgeSeconds);
  },
});

const deliveries = new Counter({
  name: "fuel_outbox_deliveries_total",
  help: "Outbox delivery attempts by this process, by outbox and outcome: delivered, retry (failed, will be tried again), dead (given up on).",
  labelNames: ["outbox", "outcome"] as const,
});

export type OutboxOutcome = "delivered" | "retry" | "dead";

export function countDelivery(outbox: string, outcome: OutboxOutcome): void {
  deliveries.inc({ outbox, outcome });
}

/**
 * The SQL of an outbox's gauges: `waiting` is the predicate of a waiting row (one a
 * partial index covers), `created` its creation time column.
 */
export function backlogSql(table: string, waiting: string, created = "create_time"): string {
  return `SELECT count(*)::int AS backlog, coalesce(extract(epoch FROM now() - min(${created})), 0)::float8 AS oldest_age_seconds
            FROM (SELECT ${created} FROM ${table} WHERE ${waiting} LIMIT ${BACKLOG_COUNT_MAX}) w`;
}

/** Reports the outbox `name` of `pool` with `sql` (backlogSql) until the returned stopper runs. */
export function watchOutbox(name: string, pool: Pool, sql: string): () => void {
  const sampled = new Sampled<OutboxSample>(`outbox:${name}`, async () => {
    const [row] = await boundedRead<{ backlog: number; oldest_age_seconds: number }>(pool, sql);
    return { backlog: row?.backlog ?? 0, oldestAgeSeconds: Math.max(0, row?.oldest_age_seconds ?? 0) };
  });
  sources.set(name, sampled);
  return () => {
    if (sources.get(name) === sampled) sources.delete(name);
  };
}
