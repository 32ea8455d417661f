// The steps that call other services, each resumable from the persisted state: a handler
// runs them right after committing its intent, a retry with the same idempotency key runs
// them again from wherever a crash left the row, and the sweeper runs them for rows nobody
// came back for. Every call is keyed by the transaction id, so running a step twice never
// moves money twice (CreditService keeps one hold per transaction and replays a capture;
// LoanService keeps one loan per transaction).
import { Code } from "@connectrpc/connect";
import { DeclineReason } from "../../gen/fuel/credit/v1/credit_line_pb.js";
import type { HoldRequest } from "../../gen/fuel/credit/v1/credit_pb.js";
import { HoldStatus, type Hold } from "../../gen/fuel/credit/v1/ledger_pb.js";
import { failedPrecondition, rpcError } from "../../platform/errors.js";
import { log } from "../../platform/logger.js";
import type { ServiceDeps } from "../../platform/service.js";
import { volumeFor } from "../../platform/money.js";
import * as hops from "./hops.js";
import { HopRefused } from "./hops.js";
import type { TransactionSettings } from "./settings.js";
import { captureKey, holdKey, loanKey, UNFINISHED, voidKey, type State } from "./state.js";
import * as store from "./store.js";
import type { TxnRow } from "./store.js";

/**
 * How a caller that holds an idempotency key gets its response stored by the same statement
 * that moves the row to where it rests (one round trip fewer): `build` makes the response
 * from the row as it will be (null when that row means an error), `stored` is set to the
 * bytes once the statement wrote them.
 */
export interface KeptAnswer {
  scope: string;
  key: string;
  build: (row: TxnRow) => Uint8Array | null;
  stored: Uint8Array | null;
}

/** The final transition of a step: with a kept answer (step.ts), the answer is written with it. */
async function settleRow(deps: ServiceDeps, row: TxnRow, from: State[], to: State, patch: store.TxnPatch, kept?: KeptAnswer): Promise<TxnRow | undefined> {
  if (!kept) return await store.transition(deps.pool, row.transaction_id, from, to, patch);
  let response: Uint8Array | null = null;
  try {
    response = kept.build({ ...row, ...patch, state: to } as TxnRow);
  } catch {
    response = null;
  }
  if (!response) return await store.transition(deps.pool, row.transaction_id, from, to, patch);
  const done = await store.transitionStoring(deps.pool, row.transaction_id, from, to, kept.scope, kept.key, response, patch);
  if (done) kept.stored = response;
  return done;
}

const later = (deps: ServiceDeps, s: TransactionSettings) => new Date(deps.now().getTime() + Math.max(s.recoveryGraceMs, 1_000));

/** A business refusal from CreditService that we do not expect: pass its reason on. */
function refused(e: HopRefused) {
  return rpcError(e.code === Code.NotFound ? Code.FailedPrecondition : e.code, e.reason || "CREDIT_REFUSED", e.original.rawMessage);
}

/** The row as it is now (after someone else moved it). */
async function reread(deps: ServiceDeps, id: string): Promise<TxnRow> {
  return (await store.getTransaction(deps.pool, id))!;
}

/** PENDING → AUTHORIZED | DECLINED: (re-)places the hold with the stored request. */
async function finishPending(deps: ServiceDeps, s: TransactionSettings, row: TxnRow, kept?: KeptAnswer, ask?: HoldRequest): Promise<TxnRow> {
  if (ask && ask.transactionId !== row.transaction_id) throw new Error("hold request of another transaction");
  let res;
  try {
    res = await hops.placeHold(deps, ask ?? row.hold_request, holdKey(row.transaction_id));
  } catch (err) {
    if (err instanceof HopRefused) throw refused(err);
    throw err;
  }
  const now = deps.now();
  if (!res.approved || !res.hold) {
    const reason = res.declineReason || DeclineReason.INSUFFICIENT_CREDIT;
    // The decline and the notices it owes the driver (and the agency) in one statement.
    return (await store.declinePending(deps.pool, row.transaction_id, {
      decline_reason: reason, update_time: now, recover_after: null,
    })) ?? (await reread(deps, row.transaction_id));
  }
  const hold = res.hold;
  // Hold answers with the line's bank; a reply from before it did (a stored replay) has none.
  const bankId = res.bankId || (await hops.bankOfLine(deps, hold.creditLineId));
  await s.crashPoint("after-hold");
  const approved = hold.amount!.amountMinor;
  const expire = hold.expireTime ? new Date(Number(hold.expireTime.seconds) * 1000 + Math.floor(hold.expireTime.nanos / 1e6)) : null;
  const done = await settleRow(deps, row, ["PENDING"], "AUTHORIZED", {
    approved_amount: approved,
    partially_approved: approved < row.requested_amount,
    hold_id: hold.holdId,
    hold_expire_time: expire,
    credit_line_id: hold.creditLineId,
    bank_id: bankId || null,
    approved_volume_ml: approvedVolume(row, approved),
    authorize_time: now,
    update_time: now,
    // The sweeper looks again when the hold should have expired.
    recover_after: expire ?? later(deps, s),
  }, kept);
  if (done) return done;
  const now2 = await reread(deps, row.transaction_id);
  if (now2.hold_id !== hold.holdId) {
    // Someone else resolved this transaction without our hold (e.g. recorded a decline
    // from an earlier attempt): give the reservation back instead of leaving it to expire.
    await hops.voidHold(deps, hold.holdId, "authorisation superseded", voidKey(row.transaction_id)).catch((err) =>
      log.warn({ err, holdId: hold.holdId }, "could not void a superseded hold; it will expire"));
  }
  return now2;
}

/** The most the pump may dispense: what the approval buys at the price, and by volume never more than asked. */
function approvedVolume(row: TxnRow, approvedMinor: bigint): bigint {
  const buys = volumeFor(approvedMinor, row.authorized_price);
  return row.requested_volume_ml > 0n && buys > row.requested_volume_ml ? row.requested_volume_ml : buys;
}

/** Marks a transaction EXPIRED (its hold expired in CreditService and released everything). */
async function markExpired(deps: ServiceDeps, row: TxnRow): Promise<TxnRow> {
  const now = deps.now();
  return (await store.transition(deps.pool, row.transaction_id, ["AUTHORIZED", "CAPTURING", "VOIDING"], "EXPIRED", {
    released_amount: row.approved_amount,
    settled_amount: null,
    settled_volume_ml: 0n,
    settled_price: 0n,
    settle_time: null,
    cancel_time: now,
    update_time: now,
    recover_after: null,
  })) ?? (await reread(deps, row.transaction_id));
}

export const holdExpiredError = () =>
  failedPrecondition("HOLD_EXPIRED", "the authorisation's hold expired before settlement; the transaction is EXPIRED", { status: "TRANSACTION_STATUS_EXPIRED" });

/** Our own earlier call already resolved the hold (under another caller's key): read it. */
async function resolvedHold(deps: ServiceDeps, row: TxnRow): Promise<Hold | null> {
  const h = await hops.getHoldOfTransaction(deps, row.transaction_id);
  return h && h.holdId === row.hold_id ? h : null;
}

/**
 * CAPTURING → SETTLED with the loan, in one move once both are done | CAPTURED when the
 * loan cannot be created yet | SETTLED at once when nothing was dispensed | EXPIRED. The
 * capture is not recorded on its own first: a crash before the loan leaves the row
 * CAPTURING, and running this again replays the capture (keyed by the transaction) and
 * asks for the loan again (keyed too), so nothing moves twice.
 */
async function finishCapture(deps: ServiceDeps, s: TransactionSettings, row: TxnRow, kept?: KeptAnswer): Promise<TxnRow> {
  const amount = row.settled_amount!;
  let released: bigint;
  try {
    const r = await hops.capture(deps, row.hold_id!, amount, row.currency, captureKey(row.transaction_id));
    released = r.hold?.releasedAmount?.amountMinor ?? row.approved_amount - amount;
  } catch (err) {
    if (!(err instanceof HopRefused)) throw err;
    if (err.reason === "HOLD_EXPIRED") return await markExpired(deps, row);
    if (err.reason !== "HOLD_ALREADY_RESOLVED") throw refused(err);
    const h = await resolvedHold(deps, row);
    if (h?.status === HoldStatus.EXPIRED) return await markExpired(deps, row);
    if (h?.status !== HoldStatus.CAPTURED || h.capturedAmount?.amountMinor !== amount) {
      log.error({ transactionId: row.transaction_id, holdStatus: h?.status }, "hold resolved otherwise than this settlement intended");
      throw refused(err);
    }
    released = h.releasedAmount?.amountMinor ?? row.approved_amount - amount;
  }
  await s.crashPoint("after-capture");
  const now = deps.now();
  if (amount === 0n) {
    return (await store.transition(deps.pool, row.transaction_id, ["CAPTURING"], "SETTLED", {
      released_amount: released, update_time: now, recover_after: null,
    })) ?? (await reread(deps, row.transaction_id));
  }
  const loanId = await loanFor(deps, row);
  if (loanId === null) {
    // The sale is done once captured: it rests CAPTURED and the sweeper asks for the loan.
    return (await store.transition(deps.pool, row.transaction_id, ["CAPTURING"], "CAPTURED", {
      released_amount: released, update_time: now, recover_after: later(deps, s),
    })) ?? (await reread(deps, row.transaction_id));
  }
  await s.crashPoint("after-loan");
  return (await settleRow(deps, row, ["CAPTURING"], "SETTLED", {
    released_amount: released, loan_id: loanId, update_time: deps.now(), recover_after: null,
  }, kept)) ?? (await reread(deps, row.transaction_id));
}

/** The sale's loan (LoanService keeps one per transaction), or null when it cannot be created now. */
async function loanFor(deps: ServiceDeps, row: TxnRow): Promise<string | null> {
  try {
    const loan = await hops.createLoan(deps, {
      transactionId: row.transaction_id,
      driverId: row.driver_id,
      agencyId: row.agency_id ?? "",
      bankId: row.bank_id ?? "",
      creditLineId: row.credit_line_id ?? "",
      principal: row.settled_amount!,
      currency: row.currency,
      settleTime: row.settle_time!,
    }, loanKey(row.transaction_id));
    return loan.loanId;
  } catch (err) {
    log.warn({ err, transactionId: row.transaction_id }, "loan not created yet; the sweeper will retry");
    return null;
  }
}

/**
 * CAPTURED → SETTLED with the loan: a sale that rested CAPTURED because its loan could not
 * be created when it was captured (LoanService down, no loan product yet). The sweeper
 * keeps trying.
 */
async function finishLoan(deps: ServiceDeps, s: TransactionSettings, row: TxnRow, kept?: KeptAnswer): Promise<TxnRow> {
  const loanId = await loanFor(deps, row);
  if (loanId === null) return (await store.patchTransaction(deps.pool, row.transaction_id, { recover_after: later(deps, s) })) ?? row;
  await s.crashPoint("after-loan");
  return (await settleRow(deps, row, ["CAPTURED"], "SETTLED", {
    loan_id: loanId, update_time: deps.now(), recover_after: null,
  }, kept)) ?? (await reread(deps, row.transaction_id));
}

/** VOIDING → VOIDED | EXPIRED. */
async function finishVoid(deps: ServiceDeps, s: TransactionSettings, row: TxnRow): Promise<TxnRow> {
  try {
    await hops.voidHold(deps, row.hold_id!, row.void_reason, voidKey(row.transaction_id));
  } catch (err) {
    if (!(err instanceof HopRefused)) throw err;
    if (err.reason === "HOLD_EXPIRED") return await markExpired(deps, row);
    if (err.reason !== "HOLD_ALREADY_RESOLVED") throw refused(err);
    const h = await resolvedHold(deps, row);
    if (h?.status === HoldStatus.EXPIRED) return await markExpired(deps, row);
    if (h?.status !== HoldStatus.VOIDED) throw refused(err);
  }
  await s.crashPoint("after-void");
  const now = deps.now();
  return (await store.transition(deps.pool, row.transaction_id, ["VOIDING"], "VOIDED", {
    released_amount: row.approved_amount, cancel_time: now, update_time: now, recover_after: null,
  })) ?? (await reread(deps, row.transaction_id));
}

/** AUTHORIZED past its hold's expiry: EXPIRED once CreditService says the hold expired. */
async function checkExpiry(deps: ServiceDeps, s: TransactionSettings, row: TxnRow): Promise<TxnRow> {
  const h = await resolvedHold(deps, row);
  if (h?.status === HoldStatus.EXPIRED) return await markExpired(deps, row);
  return (await store.patchTransaction(deps.pool, row.transaction_id, { recover_after: later(deps, s) })) ?? row;
}

/**
 * Runs the unfinished steps of a transaction until it rests: AUTHORIZED, or a terminal
 * state, or CAPTURED when the loan cannot be created yet. Throws when a hop fails (the row
 * keeps its state for the next retry). `ask`: the hold request the row's own intent stored,
 * as built (the first attempt sends it without parsing the stored bytes back).
 */
export async function advance(deps: ServiceDeps, s: TransactionSettings, row: TxnRow, kept?: KeptAnswer, ask?: HoldRequest): Promise<TxnRow> {
  for (let i = 0; i < 5; i++) {
    switch (row.state) {
      case "PENDING":
        row = await finishPending(deps, s, row, kept, ask);
        break;
      case "CAPTURING":
        row = await finishCapture(deps, s, row, kept);
        // CAPTURED here means its loan was just refused: the sweeper tries again, not us.
        if (row.state === "CAPTURED") return row;
        break;
      case "CAPTURED":
        return await finishLoan(deps, s, row, kept);
      case "VOIDING":
        row = await finishVoid(deps, s, row);
        break;
      default:
        // Every unfinished state has its step above; one without is a machine nobody finishes.
        if (UNFINISHED.includes(row.state)) throw new Error(`transaction state machine: no step finishes ${row.state}`);
        return row;
    }
  }
  return row;
}

/** What the sweeper does with a row it claimed. */
export async function recoverRow(deps: ServiceDeps, s: TransactionSettings, row: TxnRow): Promise<TxnRow> {
  if (row.state === "AUTHORIZED") return await checkExpiry(deps, s, row);
  return await advance(deps, s, row);
}
