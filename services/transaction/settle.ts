// Settle (terminal of the station, or its merchant admin): capture what was dispensed,
// mark SETTLED, create the loan. Intent first (AUTHORIZED → CAPTURING with the amount, in
// one transaction with the idempotency key), then Capture keyed "capture:<txn>", then the
// result (CAPTURED), then the loan keyed "loan:<txn>" (SETTLED). A crash anywhere leaves a
// state that a retry with the same key or the sweeper finishes.
import { create } from "@bufbuild/protobuf";
import { Code, type HandlerContext } from "@connectrpc/connect";
import { SettleResponseSchema, TransactionStatus, type SettleRequest, type SettleResponse } from "../../gen/fuel/transaction/v1/transaction_pb.js";
import { principalOf } from "../../platform/context.js";
import { failedPrecondition, invalidArgument, rpcError } from "../../platform/errors.js";
import { guardedWork, ticketOf, type IdempotencyTicket } from "../../platform/pg-guard.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { mayOperate, transactionNotFound } from "./access.js";
import { saleAmount } from "./amount.js";
import { moneyIn } from "./common.js";
import { txnToProto } from "./convert.js";
import { holdExpiredError } from "./flows.js";
import { finish, priorOf } from "./keyed.js";
import { crashPoint, type TransactionSettings } from "./settings.js";
import { publicStatus } from "./state.js";
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
}

function dispensedOf(req: SettleRequest): Dispensed {
  const d = req.dispensed;
  switch (d.case) {
    case "metered": {
      if (d.value.volumeMl < 0n) throw invalidArgument("metered.volume_ml", "must be ≥ 0");
      if (d.value.priceMinorPerLitre <= 0n) throw invalidArgument("metered.price_minor_per_litre", "must be > 0");
      if (d.value.priceMinorPerLitre > 10n ** 12n || d.value.volumeMl > 10n ** 9n) throw invalidArgument("metered", "volume or price is out of range");
      return { amount: saleAmount(d.value.priceMinorPerLitre, d.value.volumeMl), volumeMl: d.value.volumeMl, price: d.value.priceMinorPerLitre };
    }
    case "amount": {
      const m = moneyIn("amount", d.value, 0n);
      return { amount: m.amount, currency: m.currency, volumeMl: 0n, price: 0n };
    }
    default:
      throw invalidArgument("dispensed", "exactly one of metered or amount is required");
  }
}

export function settle(deps: ServiceDeps, s: TransactionSettings) {
  return async (req: SettleRequest, ctx: HandlerContext): Promise<SettleResponse> => {
    const p = principalOf(ctx);
    const id = v.uuid("transaction_id", req.transactionId);
    const dispensed = dispensedOf(req);
    const ticket = ticketOf(ctx);
    // Both reads at once; the row's access check still decides first.
    const priorP = priorOf(deps, ticket, SettleResponseSchema).then(
      (value) => ({ ok: true as const, value }), (err: unknown) => ({ ok: false as const, err }));
    const row = await store.getTransaction(deps.pool, id);
    if (!row || !mayOperate(p, row, false)) throw transactionNotFound();

    const priorR = await priorP;
    if (!priorR.ok) throw priorR.err;
    const prior = priorR.value;
    if (prior.kind === "replay") return prior.response;
    if (prior.kind === "resume") return await finish(deps, s, ticket, SettleResponseSchema, prior.row, respond);

    if (dispensed.currency !== undefined && dispensed.currency !== row.currency) {
      throw invalidArgument("amount.currency", `must be the transaction's currency ${row.currency}`);
    }
    if (row.state !== "AUTHORIZED") throw notAuthorized(row);
    if (dispensed.amount > row.approved_amount) {
      throw failedPrecondition("AMOUNT_EXCEEDS_APPROVED", `the amount ${dispensed.amount} is above the approved ${row.approved_amount}`, {
        approved_minor: row.approved_amount.toString(),
        amount_minor: dispensed.amount.toString(),
      });
    }
    const now = deps.now();
    const started = await guardedWork(deps.pool, store.IDEMPOTENCY_TABLE, ticket, async (tx) => {
      const moved = await store.transitionLinked(tx, id, ["AUTHORIZED"], "CAPTURING", ticket.scope, ticket.key, {
        settled_amount: dispensed.amount,
        settled_volume_ml: dispensed.volumeMl,
        settled_price: dispensed.price,
        settle_time: now,
        update_time: now,
        recover_after: new Date(now.getTime() + s.recoveryGraceMs),
      });
      if (!moved) throw notAuthorized((await store.getTransaction(tx, id))!);
      return { value: moved, response: new Uint8Array() };
    });
    if (started.replayed) return await asRetry(deps, s, ticket);
    await crashPoint("after-settle-intent");
    return await finish(deps, s, ticket, SettleResponseSchema, started.value, respond);
  };
}

async function asRetry(deps: ServiceDeps, s: TransactionSettings, ticket: IdempotencyTicket): Promise<SettleResponse> {
  const again = await priorOf(deps, ticket, SettleResponseSchema);
  if (again.kind === "replay") return again.response;
  if (again.kind === "resume") return await finish(deps, s, ticket, SettleResponseSchema, again.row, respond);
  throw rpcError(Code.Aborted, "IDEMPOTENCY_KEY_IN_PROGRESS", "a request with this idempotency key is still running; retry later");
}
