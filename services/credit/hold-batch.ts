// Holds on one shared line (an agency's parent line) written together. Every hold on a
// sub-line also moves its parent's counters, so on a busy agency each hold's statement
// waits for the parent row's lock, which is held until the one before it has committed
// and flushed its WAL. Here the holds that arrive while one statement is in flight wait
// for it and then go as one statement: one lock of the parent, one commit, one flush for
// the batch. A hold that finds its lane idle is written at once: nothing waits on a quiet
// line.
import { joinFits } from "./hold-batch-rule.js";
import type { EntryDraft, KeyClaim, LineFit } from "./ledger-store.js";
import type { HoldRow } from "./store.js";

/** A hold decided on lines read without a lock, with everything its write needs. */
export interface HoldDraft {
  entry: EntryDraft;
  row: HoldRow;
  fits: Map<string, LineFit>;
  key: KeyClaim;
}

/**
 * - written: in the database, with its key.
 * - unfit: not written, a line no longer fits the decision (decide again under the lock).
 * - alone: not written because another hold of its batch could not be; write it by itself.
 */
export type BatchOutcome = "written" | "unfit" | "alone";

/** Writes drafts in one statement, all or none: true when written, false when a line no longer fits. */
export type WriteHolds = (drafts: HoldDraft[], fits: Map<string, LineFit>) => Promise<boolean>;

export interface BatchLimits {
  /** Most holds in one statement. */
  maxBatch: number;
  /** Most holds waiting on one line; more are told to write alone rather than queue without end. */
  maxWaiting: number;
}

export const DEFAULT_BATCH_LIMITS: BatchLimits = { maxBatch: 32, maxWaiting: 256 };

interface Waiter {
  draft: HoldDraft;
  resolve: (o: BatchOutcome) => void;
  reject: (err: unknown) => void;
}

interface Lane {
  waiting: Waiter[];
}

export class HoldBatcher {
  /** Lanes with a statement in flight, by shared line id. */
  private readonly lanes = new Map<string, Lane>();

  constructor(private readonly write: WriteHolds, private readonly limits: BatchLimits = DEFAULT_BATCH_LIMITS) {
    if (limits.maxBatch < 1 || limits.maxWaiting < 0) throw new Error("hold batch limits must be positive");
  }

  /** Writes `draft` with whatever else is waiting on `lineId`. Errors of a hold written alone are its own. */
  submit(lineId: string, draft: HoldDraft): Promise<BatchOutcome> {
    const lane = this.lanes.get(lineId);
    if (lane) {
      if (lane.waiting.length >= this.limits.maxWaiting) return Promise.resolve("alone");
      return new Promise((resolve, reject) => lane.waiting.push({ draft, resolve, reject }));
    }
    const fresh: Lane = { waiting: [] };
    this.lanes.set(lineId, fresh);
    return new Promise((resolve, reject) => {
      void this.drain(lineId, fresh, [{ draft, resolve, reject }]);
    });
  }

  /** How many holds are waiting behind a statement in flight (for metrics and tests). */
  waiting(): number {
    let n = 0;
    for (const lane of this.lanes.values()) n += lane.waiting.length;
    return n;
  }

  private async drain(lineId: string, lane: Lane, first: Waiter[]): Promise<void> {
    let batch = first;
    try {
      while (batch.length > 0) {
        await this.flush(batch);
        batch = this.take(lane);
      }
    } finally {
      this.lanes.delete(lineId);
      // Anything still queued (only if flush itself threw past its handlers) writes alone.
      for (const w of lane.waiting.splice(0)) w.resolve("alone");
    }
  }

  /** The next batch: waiters in arrival order that can join, up to maxBatch; the rest wait. */
  private take(lane: Lane): Waiter[] {
    const batch: Waiter[] = [];
    const rest: Waiter[] = [];
    let fits = new Map<string, LineFit>();
    for (const w of lane.waiting) {
      const joined = batch.length < this.limits.maxBatch ? joinFits(fits, w.draft.fits) : null;
      if (joined) {
        fits = joined;
        batch.push(w);
      } else {
        rest.push(w);
      }
    }
    lane.waiting = rest;
    return batch;
  }

  private async flush(batch: Waiter[]): Promise<void> {
    if (batch.length === 1) {
      const w = batch[0]!;
      try {
        w.resolve((await this.write([w.draft], w.draft.fits)) ? "written" : "unfit");
      } catch (err) {
        w.reject(err);
      }
      return;
    }
    let fits = new Map<string, LineFit>();
    for (const w of batch) fits = joinFits(fits, w.draft.fits)!;
    let written = false;
    try {
      written = await this.write(batch.map((w) => w.draft), fits);
    } catch {
      // One hold's key or transaction already taken fails the statement for all: each
      // then writes alone and meets its own answer.
      written = false;
    }
    for (const w of batch) w.resolve(written ? "written" : "alone");
  }
}
