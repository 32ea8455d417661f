// What every outbox reports: how much waits, for how long, and how much was given up on
// (read from its table on scrape, see metrics.ts Sampled, or on request by
// GetOutboxStatus), and what became of each delivery attempt. An outbox is named after
// the service that owns it: kyc, loan, payment, notification, transaction.
import { Counter, Gauge } from "prom-client";
import type { Pool } from "./db.js";
import { boundedRead, Sampled } from "./metrics.js";

/** Rows counted at most; past this the backlog reads as this number and the age is of these rows. */
export const BACKLOG_COUNT_MAX = 100_000;

export interface OutboxSample {
  backlog: number;
  oldestAgeSeconds: number;
  /** Rows given up on, counted up to BACKLOG_COUNT_MAX. */
  givenUp: number;
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

new Gauge({
  name: "fuel_outbox_given_up",
  help: `Rows an outbox gave up on (counted up to ${BACKLOG_COUNT_MAX}): each needs a person. Every replica of the owner reports the same table: aggregate with max.`,
  labelNames: ["outbox"] as const,
  async collect() {
    const read = await samples();
    this.reset();
    for (const [outbox, s] of read) this.set({ outbox }, s.givenUp);
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

/** Where an outbox's state is read from: its table, and the predicates of a waiting row and a row given up on. */
export interface StatusTable {
  table: string;
  /** A row still owed (a partial index covers it). */
  waiting: string;
  /** A row given up on (a partial index covers it). */
  givenUp: string;
  /** Creation time, for the age. */
  created: string;
}

/** The one statement that reads an outbox's state: each count bounded, each on its partial index. */
export function statusSql(t: StatusTable): string {
  return `SELECT (SELECT count(*)::int FROM (SELECT 1 FROM ${t.table} WHERE ${t.givenUp} LIMIT ${BACKLOG_COUNT_MAX}) g) AS given_up, w.*
            FROM (SELECT count(*)::int AS backlog, coalesce(extract(epoch FROM now() - min(${t.created})), 0)::float8 AS oldest_age_seconds
                    FROM (SELECT ${t.created} FROM ${t.table} WHERE ${t.waiting} LIMIT ${BACKLOG_COUNT_MAX}) r) w`;
}

/** Reads an outbox's state now, within the samplers' time limit. */
export async function readOutboxStatus(pool: Pool, sql: string): Promise<OutboxSample> {
  const [row] = await boundedRead<{ backlog: number; oldest_age_seconds: number; given_up: number }>(pool, sql);
  return { backlog: row?.backlog ?? 0, oldestAgeSeconds: Math.max(0, row?.oldest_age_seconds ?? 0), givenUp: row?.given_up ?? 0 };
}

/** Reports the outbox `name` of `pool` with `sql` (statusSql) until the returned stopper runs. */
export function watchOutbox(name: string, pool: Pool, sql: string): () => void {
  const sampled = new Sampled<OutboxSample>(`outbox:${name}`, () => readOutboxStatus(pool, sql));
  sources.set(name, sampled);
  return () => {
    if (sources.get(name) === sampled) sources.delete(name);
  };
}
