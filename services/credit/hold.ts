// Hold (internal, TransactionService on authorize): reserves an amount on the driver's
// line and, in the same transaction, on the agency's parent line. Lines are locked in the
// fixed order (parent, then child) and the decision is made on the locked rows, so two
// holds can never both take the last of a line; the counters then change only through a
// balanced HOLD entry (writeMovement, whose UPDATE re-checks nothing the lock has not
// already settled). Declines are responses, not errors, and reserve nothing.
import { createHash, randomUUID } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { FuelType } from "../../gen/fuel/common/v1/common_pb.js";
import { DeclineReason } from "../../gen/fuel/credit/v1/credit_line_pb.js";
import { HoldRequestSchema, HoldResponseSchema, type HoldRequest, type HoldResponse } from "../../gen/fuel/credit/v1/credit_pb.js";
import { JournalEntryKind } from "../../gen/fuel/credit/v1/ledger_pb.js";
import { sqlState, UNIQUE_VIOLATION, type Pool, type Tx } from "../../platform/db.js";
import { alreadyExists, invalidArgument } from "../../platform/errors.js";
import { ticketOf } from "../../platform/pg-guard.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { viewerOf } from "./access.js";
import { guardedTx, IDEMPOTENCY_TABLE, moneyIn, type CreditSettings } from "./common.js";
import { holdToProto, money } from "./convert.js";
import { afterHold, decideHold, spendable, type HoldAsk } from "./hold-rule.js";
import { writeMovement, writeMovementIfUnchanged, type EntryDraft, type LineFit } from "./ledger-store.js";
import { lineState } from "./line-state.js";
import { HoldBatcher, type HoldDraft } from "./hold-batch.js";
import { holdPostings } from "./postings.js";
import type { RecentHolds } from "./recent-holds.js";
import * as store from "./store.js";

export interface ValidHold {
  driverId: string;
  transactionId: string;
  ask: HoldAsk;
  ttlSeconds: number;
  requestHash: string;
}

export function validateHold(req: HoldRequest, settings: CreditSettings, now: Date): ValidHold {
  const driverId = v.uuid("driver_id", req.driverId);
  const transactionId = v.uuid("transaction_id", req.transactionId);
  const amount = moneyIn("amount", req.amount, { min: 1n });
  let minAmount = 1n;
  if (req.minAmount) {
    minAmount = moneyIn("min_amount", req.minAmount, { currency: amount.currency, min: 1n }).amount;
    if (minAmount > amount.amount) throw invalidArgument("min_amount", "must be ≤ amount");
  }
  const stationId = v.uuid("station_id", req.stationId);
  const merchantId = v.optionalUuid("merchant_id", req.merchantId) ?? "";
  const fuelType = v.enumValue("fuel_type", req.fuelType, FuelType) as FuelType;
  if (req.ttlSeconds !== 0) v.intRange("ttl_seconds", req.ttlSeconds, 60, 86400);
  return {
    driverId,
    transactionId,
    ask: { amount: amount.amount, currency: amount.currency, allowPartial: req.allowPartial, minAmount: req.allowPartial ? minAmount : amount.amount, purchase: { fuelType, stationId, merchantId, at: now } },
    ttlSeconds: req.ttlSeconds || settings.defaultHoldTtlSeconds,
    requestHash: createHash("sha256").update(toBinary(HoldRequestSchema, req)).digest("base64url"),
  };
}

const declined = (reason: DeclineReason, spendableNow: bigint, currency: string): HoldResponse =>
  create(HoldResponseSchema, { approved: false, declineReason: reason, spendable: money(spendableNow, currency) });

/** The answer for a transaction that already has a hold: the same hold, or ALREADY_EXISTS. */
function existingHold(h: store.HoldRow & { bank_id: string }, requestHash: string): HoldResponse {
  if (h.request_hash !== requestHash) {
    throw alreadyExists("HOLD_EXISTS_FOR_TRANSACTION", "this transaction already has a hold for a different request");
  }
  const { bank_id: bankId, ...row } = h;
  return create(HoldResponseSchema, { approved: true, hold: holdToProto(row), bankId });
}

/** A hold decided and built, not yet written: the row, its HOLD entry and the answer. */
type Decided =
  | { approved: false; response: HoldResponse }
  | { approved: true; row: store.HoldRow; entry: EntryDraft; response: HoldResponse; fits: Map<string, LineFit> };

/** The decision on the lines as read (locked or not) and everything its write needs. */
async function decide(db: Pool | Tx, pre: store.HoldContext, h: ValidHold, actorId: string, now: Date): Promise<Decided> {
  if (!pre.line) return { approved: false, response: declined(DeclineReason.NO_CREDIT_LINE, 0n, h.ask.currency) };
  const lineRow = pre.line;
  const parentRow = pre.parent;
  const programRow = pre.program;
  const rows = [programRow, parentRow, lineRow].filter((r): r is store.LineRow => r !== null);
  const ids = rows.map((r) => r.line_id);
  const line = await lineState(db, lineRow, false, now);
  const parent = parentRow ? await lineState(db, parentRow, true, now) : null;
  const program = programRow ? await lineState(db, programRow, false, now) : null;
  const decision = decideHold(h.ask, line, parent, program);
  if (!decision.approved) return { approved: false, response: declined(decision.reason, spendable(line, parent, program).amount, lineRow.currency) };

  const entryId = randomUUID();
  const row: store.HoldRow = {
    hold_id: randomUUID(), line_id: lineRow.line_id, parent_line_id: parentRow?.line_id ?? null, driver_id: h.driverId,
    transaction_id: h.transactionId, request_hash: h.requestHash, status: "PENDING", currency: lineRow.currency,
    amount: decision.amount, requested_amount: h.ask.amount, captured_amount: 0n, released_amount: 0n,
    station_id: h.ask.purchase.stationId, merchant_id: h.ask.purchase.merchantId || null, fuel_type: h.ask.purchase.fuelType,
    expire_time: new Date(now.getTime() + h.ttlSeconds * 1000), create_time: now, resolve_time: null,
    hold_entry_id: entryId, resolve_entry_id: null, program_line_id: programRow?.line_id ?? null,
  };
  const entry: EntryDraft = {
    entryId, kind: JournalEntryKind.HOLD, currency: row.currency, holdId: row.hold_id, transactionId: row.transaction_id,
    description: `hold ${decision.amount} of ${h.ask.amount} requested`, actorId,
    postings: holdPostings(ids, decision.amount),
  };
  const [lineAfter, parentAfter, programAfter] = afterHold(line, parent, program, decision.amount);
  const response = create(HoldResponseSchema, {
    approved: true,
    hold: holdToProto(row),
    spendable: money(spendable(lineAfter, parentAfter, programAfter).amount, row.currency),
    bankId: lineRow.bank_id,
  });
  const fits = new Map(rows.map((l) => [l.line_id, {
    version: l.version, status: l.status, controls: l.controls, dailyControls: l.daily_controls, needs: decision.amount,
  }]));
  return { approved: true, row, entry, response, fits };
}

/**
 * The usual hold in two round trips and one commit: read the lines without a lock, decide,
 * and write the hold, its balanced entry, the counters and the idempotency key with the
 * answer in one statement that applies only if both lines still fit the decision (other
 * holds on a shared line may have moved its counters: enough must still be available).
 * A hold on an agency's sub-line goes through the batcher, which writes it with the other
 * holds waiting on the same parent line (hold-batch.ts). The answer's `spendable` is as of
 * the decision. null when the locked path must answer: a retry (the key or the
 * transaction's hold exists), a decline (kept for replay there), or a line that no longer
 * fits.
 */
async function holdUnlocked(deps: ServiceDeps, batcher: HoldBatcher, ctx: HandlerContext, h: ValidHold, actorId: string, now: Date): Promise<{ response: HoldResponse; row: store.HoldRow } | null> {
  const pre = await store.holdContext(deps.pool, h.driverId, h.transactionId);
  if (pre.priorHoldId) return null;
  const d = await decide(deps.pool, pre, h, actorId, now);
  if (!d.approved) return null;
  const t = ticketOf(ctx);
  const draft: HoldDraft = {
    entry: d.entry, row: d.row, fits: d.fits,
    key: { table: IDEMPOTENCY_TABLE, scope: t.scope, key: t.key, requestHash: t.requestHash, response: toBinary(HoldResponseSchema, d.response) },
  };
  try {
    // The highest level the hold shares with others is where they queue.
    const shared = pre.program ?? pre.parent;
    const outcome = shared ? await batcher.submit(shared.line_id, draft) : "alone";
    if (outcome === "written") return { response: d.response, row: d.row };
    if (outcome === "unfit") return null;
    return (await writeHolds(deps.pool, [draft], draft.fits)) ? { response: d.response, row: d.row } : null;
  } catch (err) {
    // The key, or this transaction's hold, was taken meanwhile: the locked path answers as a retry.
    if (sqlState(err) === UNIQUE_VIOLATION) return null;
    throw err;
  }
}

/** Holds decided unlocked, written in one statement if every line still fits them all. */
async function writeHolds(pool: Pool, drafts: HoldDraft[], fits: Map<string, LineFit>): Promise<boolean> {
  const written = await writeMovementIfUnchanged(pool, drafts.map((x) => x.entry), drafts[0]!.row.create_time, drafts.map((x) => x.row), {
    fits, keys: drafts.map((x) => x.key),
  });
  return written !== null;
}

export function hold(deps: ServiceDeps, settings: CreditSettings, recent: RecentHolds) {
  // One per service instance: holds on a shared line wait only for holds of this process.
  const batcher = new HoldBatcher((drafts, fits) => writeHolds(deps.pool, drafts, fits), settings.holdBatch);
  return async (req: HoldRequest, ctx: HandlerContext) => {
    const now = deps.now();
    const h = validateHold(req, settings, now);
    const actorId = viewerOf(ctx).actorId;
    const quick = await holdUnlocked(deps, batcher, ctx, h, actorId, now);
    if (quick) {
      recent.remember(quick.row);
      return quick.response;
    }
    try {
      return await guardedTx(deps, ctx, HoldResponseSchema, async (tx) => {
        // Inside the guard, so a replay of this key gets its stored response byte for byte.
        // One round trip: the driver's line and its parent, locked in the fixed order
        // (parent, then child), and this transaction's hold if it already has one.
        const pre = await store.lockHoldContext(tx, h.driverId, h.transactionId);
        if (pre.priorHoldId) return existingHold((await store.holdOfTransactionWithBank(tx, h.transactionId))!, h.requestHash);
        const d = await decide(tx, pre, h, actorId, now);
        if (!d.approved) return d.response;
        // The hold row is inserted by the same statement as its balanced HOLD entry.
        await writeMovement(tx, [d.entry], now, d.row);
        return d.response;
      });
    } catch (err) {
      // Another request placed this transaction's hold first (under another key).
      if (sqlState(err) === UNIQUE_VIOLATION) {
        const winner = await store.holdOfTransactionWithBank(deps.pool, h.transactionId);
        if (winner) return existingHold(winner, h.requestHash);
      }
      throw err;
    }
  };
}
