// Resolving a hold — Capture, Void, and expiry — exactly once. The claim is a conditional
// update of the hold row (`WHERE status = 'PENDING'`), so of two concurrent resolutions
// only one gets the row; the line counters then move by the entry's postings.
import { randomUUID } from "node:crypto";
import { JournalEntryKind } from "../../gen/fuel/credit/v1/ledger_pb.js";
import { withTx, type Tx } from "../../platform/db.js";
import { failedPrecondition, notFound } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import { writeMovement, type EntryDraft } from "./ledger-store.js";
import { capturePostings, releasePostings } from "./postings.js";
import * as store from "./store.js";

/** Every level a hold reserved on: its program, its parent line, its line. */
export const linesOf = (h: store.HoldRow): string[] => [h.program_line_id, h.parent_line_id, h.line_id].filter((id): id is string => id !== null);

export const holdNotFound = () => notFound("hold", "HOLD_NOT_FOUND");
export const holdExpired = () => failedPrecondition("HOLD_EXPIRED", "the hold expired and its amount was released", { status: "EXPIRED" });

/** Thrown inside a transaction when a PENDING hold is found past its expiry: expire it outside, then refuse. */
export class HoldOverdue extends Error {
  constructor(readonly holdId: string) {
    super("hold overdue");
  }
}

/** Why a hold could not be claimed for capture or void (always throws). */
export async function refuseResolution(tx: Tx, holdId: string, captureAmount: bigint | null, now: Date): Promise<never> {
  const h = await store.getHold(tx, holdId);
  if (!h) throw holdNotFound();
  if (h.status === "EXPIRED") throw holdExpired();
  if (h.status !== "PENDING") {
    throw failedPrecondition("HOLD_ALREADY_RESOLVED", `the hold is already ${h.status.toLowerCase()}`, { status: h.status });
  }
  if (h.expire_time <= now) throw new HoldOverdue(holdId);
  if (captureAmount !== null && captureAmount > h.amount) {
    throw failedPrecondition("AMOUNT_EXCEEDS_HOLD", `capture ${captureAmount} exceeds the hold ${h.amount}`, { hold_amount: h.amount.toString() });
  }
  throw failedPrecondition("HOLD_ALREADY_RESOLVED", "the hold is being resolved by another request", { status: h.status });
}

/** How a hold is resolved: `captured` ≤ its amount posted and the rest released, or all of it released. */
export type Resolution = { to: "CAPTURED"; captured: bigint } | { to: "VOIDED"; reason: string };

/**
 * The one journal entry that resolves `h` as `r` says. The locked way (below) and the
 * one-statement way (resolve-at-once.ts) both post exactly this, so they cannot drift.
 */
export function resolutionEntry(h: store.HoldRow, r: Resolution, entryId: string, actorId: string): EntryDraft {
  const base = { entryId, currency: h.currency, holdId: h.hold_id, transactionId: h.transaction_id, actorId };
  return r.to === "CAPTURED"
    ? { ...base, kind: JournalEntryKind.CAPTURE, description: `capture ${r.captured} of hold ${h.amount}, release ${h.amount - r.captured}`, postings: capturePostings(linesOf(h), h.amount, r.captured) }
    : { ...base, kind: JournalEntryKind.VOID, description: `void: ${r.reason}`, postings: releasePostings(linesOf(h), h.amount) };
}

/** Captures `captured` ≤ amount of a PENDING, unexpired hold; releases the rest. */
export async function captureHold(tx: Tx, holdId: string, captured: bigint, actorId: string, now: Date): Promise<{ hold: store.HoldRow; entryId: string }> {
  const entryId = randomUUID();
  const h = await store.resolveHold(tx, holdId, "CAPTURED", captured, entryId, now, now);
  if (!h) return await refuseResolution(tx, holdId, captured, now);
  await writeMovement(tx, [resolutionEntry(h, { to: "CAPTURED", captured }, entryId, actorId)], now);
  return { hold: h, entryId };
}

export async function voidHold(tx: Tx, holdId: string, reason: string, actorId: string, now: Date): Promise<{ hold: store.HoldRow; entryId: string }> {
  const entryId = randomUUID();
  const h = await store.resolveHold(tx, holdId, "VOIDED", 0n, entryId, now, now);
  if (!h) return await refuseResolution(tx, holdId, null, now);
  await writeMovement(tx, [resolutionEntry(h, { to: "VOIDED", reason }, entryId, actorId)], now);
  return { hold: h, entryId };
}

/** Expires up to `max` overdue holds, each in its own EXPIRY entry; concurrent sweeps never share a hold. */
export async function expireDue(tx: Tx, now: Date, max: number, actorId: string): Promise<store.HoldRow[]> {
  const rows = await store.claimExpired(tx, now, max);
  const entries: EntryDraft[] = rows.map((h) => ({
    entryId: h.resolve_entry_id!, kind: JournalEntryKind.EXPIRY, currency: h.currency, holdId: h.hold_id, transactionId: h.transaction_id,
    description: `expired at ${h.expire_time.toISOString()}`, actorId, postings: releasePostings(linesOf(h), h.amount),
  }));
  await writeMovement(tx, entries, now);
  return rows;
}

/** Expires one overdue hold now (Capture/Void found it past its time). */
export async function expireOne(deps: ServiceDeps, holdId: string): Promise<void> {
  const now = deps.now();
  await withTx(deps.pool, async (tx) => {
    const rows = await tx.query<store.HoldRow>(
      `UPDATE credit.holds SET status = 'EXPIRED', released_amount = amount, resolve_time = $2, resolve_entry_id = gen_random_uuid()
        WHERE hold_id = $1 AND status = 'PENDING' AND expire_time <= $2 RETURNING ${store.HOLD_COLS}`,
      [holdId, now],
    );
    const h = rows.rows[0];
    if (!h) return;
    await writeMovement(tx, [{
      entryId: h.resolve_entry_id!, kind: JournalEntryKind.EXPIRY, currency: h.currency, holdId: h.hold_id, transactionId: h.transaction_id,
      description: `expired at ${h.expire_time.toISOString()}`, actorId: "credit", postings: releasePostings(linesOf(h), h.amount),
    }], now);
  });
}
