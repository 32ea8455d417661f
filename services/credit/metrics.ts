// What CreditService reports on /metrics: its pending holds by how near their expiry is,
// the holds the sweeper expired, and the ledger audits (ledger-audit.ts). The SQL gauges
// read the shared tables, so every replica reports the same values (aggregate with max);
// they are read at most once per METRICS_CACHE_MS (platform/metrics.ts).
//
// The metrics are defined once per process, as the registry they are in is the process's
// (a second definition of a name would throw). What the gauges read is an instance's: its
// context builds its samples (creditSamples, its pool and clock), and while it runs they are
// what the gauges show (showCredit).
import { Counter, Gauge } from "prom-client";
import type { Pool } from "../../platform/db.js";
import { boundedRead, Sampled } from "../../platform/metrics.js";

/** Pending holds expiring within this long are "within_5m". */
export const EXPIRING_SOON_S = 300;
/** Pending holds counted at most (an active sale has one; this many at once is a storm). */
const HOLDS_COUNT_MAX = 1_000_000;

export const holdsExpired = new Counter({
  name: "fuel_credit_holds_expired_total",
  help: "Holds the expiry sweeper of this process released because they were not settled in time.",
});

export const auditRuns = new Counter({
  name: "fuel_ledger_audit_runs_total",
  help: "Ledger audits run by this process, by outcome: consistent, inconsistent, failed (could not complete).",
  labelNames: ["outcome"] as const,
});

interface HoldSample {
  overdue: number;
  soon: number;
  later: number;
}

interface AuditRow {
  consistent: boolean | null;
  finish_s: number | null;
  failure_s: number | null;
  lines_checked: bigint;
  entries_checked: bigint;
  line_differences: number;
  unbalanced_entries: number;
  inconsistent_holds: number;
  duration_ms: number;
}

/** One instance's reads behind the gauges. */
export interface CreditSamples {
  holds: Sampled<HoldSample>;
  audit: Sampled<AuditRow | undefined>;
}

/** The reads of `pool`'s credit schema, at `now` (the service clock); nothing is read until a scrape asks. */
export function creditSamples(pool: Pool, now: () => Date): CreditSamples {
  const holds = new Sampled<HoldSample>("credit:holds", async () => {
    const [r] = await boundedRead<{ overdue: number; soon: number; later: number }>(
      pool,
      `SELECT count(*) FILTER (WHERE expire_time <= $1)::int AS overdue,
              count(*) FILTER (WHERE expire_time > $1 AND expire_time <= $1 + make_interval(secs => $2))::int AS soon,
              count(*) FILTER (WHERE expire_time > $1 + make_interval(secs => $2))::int AS later
         FROM (SELECT expire_time FROM credit.holds WHERE status = 'PENDING' LIMIT ${HOLDS_COUNT_MAX}) p`,
      [now(), EXPIRING_SOON_S],
    );
    return { overdue: r?.overdue ?? 0, soon: r?.soon ?? 0, later: r?.later ?? 0 };
  });
  const audit = new Sampled<AuditRow | undefined>("credit:ledger_audit", async () => {
    const [r] = await boundedRead<AuditRow>(
      pool,
      `SELECT consistent, extract(epoch FROM finish_time)::float8 AS finish_s, extract(epoch FROM failure_time)::float8 AS failure_s,
              lines_checked, entries_checked, line_differences, unbalanced_entries, inconsistent_holds, duration_ms
         FROM credit.ledger_audit WHERE id = 1`,
    );
    return r;
  });
  return { holds, audit };
}

/**
 * Where the process's gauges meet the instances' samples: the running instances' samples,
 * newest last, and the gauges show the newest's. A deployed process runs one CreditService; a
 * test may run two systems side by side, and each instance leaves when it stops.
 */
const shown: CreditSamples[] = [];
const newest = (): CreditSamples | undefined => shown[shown.length - 1];

/** The gauges show `samples` until the returned stopper runs. */
export function showCredit(samples: CreditSamples): () => void {
  shown.push(samples);
  return () => {
    const i = shown.indexOf(samples);
    if (i >= 0) shown.splice(i, 1);
  };
}

new Gauge({
  name: "fuel_credit_holds_pending",
  help: `Pending holds (authorized sales not yet settled, voided or expired) by expiry: overdue (past it: the sweeper's backlog), within_5m, later.`,
  labelNames: ["expiry"] as const,
  async collect() {
    const s = await newest()?.holds.get().catch(() => undefined);
    this.reset();
    if (!s) return;
    this.set({ expiry: "overdue" }, s.overdue);
    this.set({ expiry: "within_5m" }, s.soon);
    this.set({ expiry: "later" }, s.later);
  },
});

/** A gauge of the last audit's row; no value until an audit has completed (or when the row cannot be read). */
function auditGauge(name: string, help: string, value: (r: AuditRow) => number | null): void {
  new Gauge({
    name,
    help,
    async collect() {
      const r = await newest()?.audit.get().catch(() => undefined);
      this.reset();
      const v = r ? value(r) : null;
      if (v !== null) this.set(v);
    },
  });
}

auditGauge("fuel_ledger_audit_consistent", "1 when the last completed ledger audit found the ledger consistent, 0 when it found a difference (page on 0).", (r) => (r.consistent === null ? null : r.consistent ? 1 : 0));
auditGauge("fuel_ledger_audit_last_success_timestamp_seconds", "Unix time the last ledger audit completed (alert when it grows old: audits stopped).", (r) => r.finish_s);
auditGauge("fuel_ledger_audit_last_failure_timestamp_seconds", "Unix time of the last ledger audit that could not complete (timeout, database away).", (r) => r.failure_s);
auditGauge("fuel_ledger_audit_duration_seconds", "How long the last completed ledger audit took.", (r) => (r.finish_s === null ? null : r.duration_ms / 1000));
auditGauge("fuel_ledger_audit_lines_checked", "Credit lines the last completed ledger audit checked.", (r) => (r.finish_s === null ? null : Number(r.lines_checked)));
auditGauge("fuel_ledger_audit_entries_checked", "Journal entries the last completed ledger audit read.", (r) => (r.finish_s === null ? null : Number(r.entries_checked)));

new Gauge({
  name: "fuel_ledger_audit_differences",
  help: "What the last completed ledger audit found, by kind: line_account (a line's cached counter or identity differs from its postings, sub-lines or holds), unbalanced_entry, inconsistent_hold.",
  labelNames: ["kind"] as const,
  async collect() {
    const r = await newest()?.audit.get().catch(() => undefined);
    this.reset();
    if (!r || r.finish_s === null) return;
    this.set({ kind: "line_account" }, r.line_differences);
    this.set({ kind: "unbalanced_entry" }, r.unbalanced_entries);
    this.set({ kind: "inconsistent_hold" }, r.inconsistent_holds);
  },
});
