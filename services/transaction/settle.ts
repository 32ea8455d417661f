// Settle (terminal of the station, or its merchant admin): capture what was dispensed,
// mark SETTLED, create the loan. Intent first (AUTHORIZED → CAPTURING with the amount, in
// one statement with the idempotency key's row), then Capture keyed "capture:<txn>", then the
// result (CAPTURED), then the loan keyed "loan:<txn>" (SETTLED). A crash anywhere leaves a
// state that a retry with the same key or the sweeper finishes.
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { SettleResponseSchema, TransactionStatus, type SettleRequest, type SettleResponse } from "../../gen/fuel/transaction/v1/transaction_pb.js";
import { principalOf } from "../../platform/context.js";
import { failedPrecondition, invalidArgument } from "../../platform/errors.js";
import { ticketOf } from "../../platform/pg-guard.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { mayOperate, operatorOf, transactionNotFound } from "./access.js";
import { saleAmount } from "../../platform/money.js";
import { moneyIn } from "./common.js";
import { txnToProto } from "./convert.js";
import { holdExpiredError } from "./flows.js";
import type { TransactionSettings } from "./settings.js";
import { publicStatus } from "./state.js";
import { runStep, type KeyedCall } from "./step.js";
import * as store from "./store.js";
import type { TxnRow } from "./store.js";

/** Settle or Void of a transaction that is not (or no longer only) AUTHORIZED. */
export function notAuthorized(row: TxnRow) {
  const status = `TRANSACTION_STATUS_${TransactionStatus[publicStatus(row.state)]}`;
  // Still AUTHORIZED to the outside while a Settle or Void under another key is under way.
  const busy = row.state === "CAPTURING" ? "a settlement" : row.state === "VOIDING" ? "a void" : null;
  const message = busy
    ? `${busy} of the transaction is under way; read it again shortly`
    : `the transaction is ${TransactionStatus[publicStatus(row.state)]}, not AUTHORIZED`;
  return failedPrecondition("TRANSACTION_NOT_AUTHORIZED", message, { status });
}

function respond(row: TxnRow): SettleResponse {
  if (row.state === "EXPIRED") throw holdExpiredError();
  if (row.state !== "CAPTURED" && row.state !== "SETTLED") throw notAuthorized(row);
  return create(SettleResponseSchema, { transaction: txnToProto(row) });
}

interface Dispensed {
  amount: bigint;
  currency?: string;
  volumeMl: bigint;
  price: bigint;
  /** Settled by volume at the locked price, or metered: the volume must fit the approved volume. */
  volumeChecked: boolean;
}

/** What was dispensed, from the request alone; by volume, `lockedPrice` prices it. */
function dispensedOf(req: SettleRequest, lockedPrice: () => Promise<bigint | null>): Promise<Dispensed> | Dispensed {
  const d = req.dispensed;
  switch (d.case) {
    case "metered": {
      if (d.value.volumeMl < 0n) throw invalidArgument("metered.volume_ml", "must be ≥ 0");
      if (d.value.priceMinorPerLitre <= 0n) throw invalidArgument("metered.price_minor_per_litre", "must be > 0");
      if (d.value.priceMinorPerLitre > 10n ** 12n || d.value.volumeMl > 10n ** 9n) throw invalidArgument("metered", "volume or price is out of range");
      return { amount: saleAmount(d.value.priceMinorPerLitre, d.value.volumeMl), volumeMl: d.value.volumeMl, price: d.value.priceMinorPerLitre, volumeChecked: false };
    }
    case "amount": {
      const m = moneyIn("amount", d.value, 0n);
      return { amount: m.amount, currency: m.currency, volumeMl: 0n, price: 0n, volumeChecked: false };
    }
    case "volumeMl": {
      const volumeMl = d.value;
      if (volumeMl < 0n || volumeMl > 10n ** 9n) throw invalidArgument("volume_ml", "must be 0 – 1 000 000 000 millilitres");
      return lockedPrice().then((price) => ({
        // An unknown transaction moves nothing: the refusal below reads why.
        amount: price === null ? 0n : saleAmount(price, volumeMl), volumeMl, price: price ?? 0n, volumeChecked: true,
      }));
    }
    default:
      throw invalidArgument("dispensed", "exactly one of metered, amount or volume_ml is required");
  }
}

export function settle(deps: ServiceDeps, s: TransactionSettings) {
  return async (req: SettleRequest, ctx: HandlerContext): Promise<SettleResponse> => {
    const p = principalOf(ctx);
    const id = v.uuid("transaction_id", req.transactionId);
    // By volume, the price locked at authorisation prices the sale: one read first (the
    // price never changes after authorisation, so it cannot go stale before the intent).
    const dispensed = await dispensedOf(req, async () => (await store.getTransaction(deps.pool, id))?.authorized_price ?? null);
    const call: KeyedCall<typeof SettleResponseSchema> = { ticket: ticketOf(ctx), schema: SettleResponseSchema, respond, crashAt: "after-settle-intent" };
    const operator = operatorOf(p, false);
    const now = deps.now();
    // The intent without reading first: the row moves only if this caller may, it is
    // AUTHORIZED and the amount fits; otherwise the row (and the key) say why not.
    const intent = async () => operator ? await store.startStep(deps.pool, id, "CAPTURING", call.ticket, operator,
      {
        approvedAtLeast: dispensed.amount, currency: dispensed.currency ?? null,
        volumeAtMost: dispensed.volumeChecked ? dispensed.volumeMl : null,
        price: req.dispensed.case === "metered" ? dispensed.price : null,
      }, {
        settled_amount: dispensed.amount,
        settled_volume_ml: dispensed.volumeMl,
        settled_price: dispensed.price,
        settle_time: now,
        update_time: now,
        recover_after: new Date(now.getTime() + s.recoveryGraceMs),
      }) : undefined;
    return await runStep(deps, s, call, intent, async () => {
      const row = await store.getTransaction(deps.pool, id);
      if (!row || !mayOperate(p, row, false)) return transactionNotFound();
      if (dispensed.currency !== undefined && dispensed.currency !== row.currency) {
        return invalidArgument("amount.currency", `must be the transaction's currency ${row.currency}`);
      }
      if (row.state !== "AUTHORIZED") return notAuthorized(row);
      if (dispensed.volumeChecked && dispensed.volumeMl > row.approved_volume_ml) {
        return failedPrecondition("VOLUME_EXCEEDS_APPROVED", `${dispensed.volumeMl} ml is above the approved ${row.approved_volume_ml} ml`, {
          approved_volume_ml: row.approved_volume_ml.toString(),
          volume_ml: dispensed.volumeMl.toString(),
        });
      }
      if (req.dispensed.case === "metered" && row.requested_volume_ml > 0n && dispensed.price !== row.authorized_price) {
        return failedPrecondition("PRICE_NOT_LOCKED_PRICE", `the transaction was authorised by volume at ${row.authorized_price} per litre; settle at that price or by volume_ml`, {
          locked_price_minor_per_litre: row.authorized_price.toString(),
        });
      }
      if (dispensed.amount > row.approved_amount) {
        return failedPrecondition("AMOUNT_EXCEEDS_APPROVED", `the amount ${dispensed.amount} is above the approved ${row.approved_amount}`, {
          approved_minor: row.approved_amount.toString(),
          amount_minor: dispensed.amount.toString(),
        });
      }
      // AUTHORIZED and fitting, yet not moved: another writer moved it in between.
      return notAuthorized((await store.getTransaction(deps.pool, id))!);
    });
  };
}
