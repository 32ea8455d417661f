// The recovery sweeper: finishes what requests left half-done (a crash, a lost client, a
// dependency that was down) and notices authorisations whose hold expired. Rows are claimed
// with SKIP LOCKED and a lease, so several replicas can sweep at once; every step is keyed
// by the transaction id, so a row swept twice still moves money once.
//
// The bound: a step's row is due recoveryGraceMs (= MAX_DEADLINE_MS, the longest its own
// request can still be running) after the step began, and a pass runs every sweepMs, so
// every half-done sale rests within MAX_DEADLINE_MS + TRANSACTION_SWEEP_MS of its step's
// start (35 s with the defaults) without anyone retrying — as long as the services its
// steps call answer; while they do not, the row is tried again every recoveryGraceMs.
import { log } from "../../platform/logger.js";
import type { ServiceDeps } from "../../platform/service.js";
import { recoverRow } from "./flows.js";
import type { TransactionSettings } from "./settings.js";
import * as store from "./store.js";

const BATCH = 50;

/** One pass; returns how many rows it looked at. */
export async function sweepOnce(deps: ServiceDeps, s: TransactionSettings): Promise<number> {
  const rows = await store.claimDue(deps.pool, deps.now(), Math.max(s.recoveryGraceMs, 5_000), BATCH);
  for (const row of rows) {
    try {
      const after = await recoverRow(deps, s, row);
      if (after.state !== row.state) log.info({ transactionId: row.transaction_id, from: row.state, to: after.state }, "sweeper resolved a transaction");
    } catch (err) {
      log.warn({ err, transactionId: row.transaction_id, state: row.state }, "sweeper could not resolve a transaction yet");
    }
  }
  return rows.length;
}

export function startSweeper(deps: ServiceDeps, s: TransactionSettings): () => Promise<void> {
  if (s.sweepMs === 0) return async () => undefined;
  let running: Promise<unknown> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = sweepOnce(deps, s)
      .catch((err) => log.warn({ err }, "transaction sweeper pass failed"))
      .finally(() => (running = null));
  }, s.sweepMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
