// The continuous ledger audit: VerifyLedger's check (verify-ledger.ts) over the whole
// ledger on a schedule (LEDGER_AUDIT_INTERVAL_MS), its result in credit.ledger_audit and
// on /metrics (metrics.ts), so an inconsistency pages someone within minutes rather than
// waiting for a person to ask.
//
// One audit per interval however many replicas run: a replica runs one only after moving
// the row's due_time on in the statement that found it due, and holds it a lease ahead
// while it runs (renewed after every chunk; a replica that dies mid-audit lets the next
// one start when its lease ends). The next audit is due one interval after the last one
// ended, so audits never overlap and the database spends at most one connection on them.
//
// Bounded in cost: lines are checked in chunks of LEDGER_AUDIT_CHUNK_LINES, each in its
// own short read-only REPEATABLE READ transaction (the chunk's counters, postings, sub-
// lines and holds from one snapshot, which is all the check compares) under a statement
// timeout, so no transaction holds a snapshot for the length of the whole ledger.
import { hostname } from "node:os";
import { randomUUID } from "node:crypto";
import { withTx, type Pool } from "../../platform/db.js";
import { log } from "../../platform/logger.js";
import { auditRuns } from "./metrics.js";
import { verifyLedger } from "./verify-ledger.js";

export interface AuditSettings {
  /** Time from the end of one audit to the start of the next; 0 = no audits. */
  intervalMs: number;
  /** Lines checked per transaction. */
  chunkLines: number;
}

/** A chunk's statements may run this long before PostgreSQL cuts them off (the audit then fails). */
export const AUDIT_STATEMENT_TIMEOUT_MS = 30_000;
/** How far ahead a running audit holds the schedule; far more than one chunk can take. */
const AUDIT_LEASE_MS = 5 * 60_000;
/** Chunks per audit at most (with 1000-line chunks: 100 million lines). */
const MAX_CHUNKS = 100_000;
/** Distinct bad entries and holds remembered per audit; past this the counts say "at least". */
const MAX_REMEMBERED = 10_000;
const FIRST_LINE_ID = "00000000-0000-0000-0000-000000000000";

export interface AuditResult {
  consistent: boolean;
  linesChecked: bigint;
  /** Entries read; an entry touching lines of two chunks is read in both. */
  entriesChecked: bigint;
  lineDifferences: number;
  unbalancedEntries: string[];
  inconsistentHolds: string[];
}

/** One pass over every line, chunk by chunk; `renew` runs after each chunk and may stop the pass by throwing. */
export async function auditLedger(pool: Pool, chunkLines: number, renew: () => Promise<void> = async () => undefined): Promise<AuditResult> {
  const out: AuditResult = { consistent: true, linesChecked: 0n, entriesChecked: 0n, lineDifferences: 0, unbalancedEntries: [], inconsistentHolds: [] };
  const entries = new Set<string>();
  const holds = new Set<string>();
  const remember = (set: Set<string>, ids: string[]) => {
    for (const id of ids) if (set.size < MAX_REMEMBERED) set.add(id);
  };
  let after = FIRST_LINE_ID;
  for (let chunk = 0; chunk < MAX_CHUNKS; chunk++) {
    const done = await withTx(pool, async (tx) => {
      await tx.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
      await tx.query(`SET LOCAL statement_timeout = ${AUDIT_STATEMENT_TIMEOUT_MS}`);
      const ids = (await tx.query<{ line_id: string }>(`SELECT line_id FROM credit.lines WHERE line_id > $1 ORDER BY line_id LIMIT $2`, [after, chunkLines])).rows.map((r) => r.line_id);
      if (ids.length === 0) return true;
      const report = await verifyLedger(tx, ids, null);
      out.linesChecked += report.linesChecked;
      out.entriesChecked += report.entriesChecked;
      out.lineDifferences += report.differences.length;
      remember(entries, report.unbalancedEntryIds);
      remember(holds, report.inconsistentHoldIds);
      after = ids[ids.length - 1]!;
      return ids.length < chunkLines;
    });
    if (done) break;
    await renew();
  }
  out.unbalancedEntries = [...entries];
  out.inconsistentHolds = [...holds];
  out.consistent = out.lineDifferences === 0 && entries.size === 0 && holds.size === 0;
  return out;
}

/** Takes the next audit if it is due: true when this process is to run it now. */
async function claim(pool: Pool, me: string): Promise<boolean> {
  const res = await pool.query(
    `UPDATE credit.ledger_audit SET due_time = now() + make_interval(secs => $2::double precision / 1000), claimed_by = $1
      WHERE id = 1 AND due_time <= now()`,
    [me, AUDIT_LEASE_MS],
  );
  return res.rowCount === 1;
}

async function renewLease(pool: Pool, me: string): Promise<void> {
  const res = await pool.query(
    `UPDATE credit.ledger_audit SET due_time = now() + make_interval(secs => $2::double precision / 1000) WHERE id = 1 AND claimed_by = $1`,
    [me, AUDIT_LEASE_MS],
  );
  if (res.rowCount !== 1) throw new Error("ledger audit: the lease passed to another replica");
}

async function recordResult(pool: Pool, me: string, r: AuditResult, durationMs: number, intervalMs: number): Promise<void> {
  await pool.query(
    `UPDATE credit.ledger_audit
        SET due_time = now() + make_interval(secs => $2::double precision / 1000), claimed_by = NULL, finish_time = now(),
            consistent = $3, lines_checked = $4, entries_checked = $5, line_differences = $6, unbalanced_entries = $7,
            inconsistent_holds = $8, duration_ms = $9
      WHERE id = 1 AND claimed_by = $1`,
    [me, intervalMs, r.consistent, r.linesChecked, r.entriesChecked, r.lineDifferences, r.unbalancedEntries.length, r.inconsistentHolds.length, Math.round(durationMs)],
  );
}

/** A stopping process hands the audit back: the next replica to look runs it at once. */
async function release(pool: Pool, me: string): Promise<void> {
  await pool.query(`UPDATE credit.ledger_audit SET due_time = now(), claimed_by = NULL WHERE id = 1 AND claimed_by = $1`, [me]);
}

async function recordFailure(pool: Pool, me: string, err: unknown, intervalMs: number): Promise<void> {
  await pool.query(
    `UPDATE credit.ledger_audit
        SET due_time = now() + make_interval(secs => $2::double precision / 1000), claimed_by = NULL, failure_time = now(), last_error = $3
      WHERE id = 1 AND claimed_by = $1`,
    [me, intervalMs, String((err as Error)?.message ?? err).slice(0, 500)],
  );
}

/** One scheduled step: runs an audit if one is due and nobody else took it; `stop` ends it between chunks. */
export async function auditIfDue(pool: Pool, me: string, settings: AuditSettings, stop?: AbortSignal): Promise<AuditResult | null> {
  if (!(await claim(pool, me))) return null;
  const started = performance.now();
  let result: AuditResult;
  try {
    result = await auditLedger(pool, settings.chunkLines, async () => {
      stop?.throwIfAborted();
      await renewLease(pool, me);
    });
  } catch (err) {
    if (stop?.aborted) {
      await release(pool, me).catch(() => undefined);
      return null;
    }
    auditRuns.inc({ outcome: "failed" });
    log.warn({ err }, "ledger audit could not complete");
    await recordFailure(pool, me, err, settings.intervalMs).catch(() => undefined);
    return null;
  }
  const durationMs = performance.now() - started;
  await recordResult(pool, me, result, durationMs, settings.intervalMs);
  auditRuns.inc({ outcome: result.consistent ? "consistent" : "inconsistent" });
  const counts = { lines_checked: Number(result.linesChecked), line_differences: result.lineDifferences, unbalanced_entries: result.unbalancedEntries.length, inconsistent_holds: result.inconsistentHolds.length, ms: Math.round(durationMs) };
  if (result.consistent) log.debug(counts, "ledger audit: consistent");
  else log.error({ ...counts, entry_ids: result.unbalancedEntries.slice(0, 10), hold_ids: result.inconsistentHolds.slice(0, 10) }, "ledger audit: the ledger is INCONSISTENT; VerifyLedger names every difference");
  return result;
}

/** Checks for a due audit every quarter interval (0.1–15 s); returns the stopper (waits for a running audit). */
export function startLedgerAudit(pool: Pool, settings: AuditSettings): () => Promise<void> {
  if (settings.intervalMs <= 0) return async () => undefined;
  const me = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const everyMs = Math.min(15_000, Math.max(100, Math.floor(settings.intervalMs / 4)));
  let running: Promise<unknown> | null = null;
  const stop = new AbortController();
  const timer = setInterval(() => {
    if (running || stop.signal.aborted) return;
    running = auditIfDue(pool, me, settings, stop.signal)
      .catch((err) => log.warn({ err }, "ledger audit schedule failed"))
      .finally(() => (running = null));
  }, everyMs);
  timer.unref();
  return async () => {
    stop.abort();
    clearInterval(timer);
    await running;
  };
}
