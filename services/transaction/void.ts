// Void (terminal of the station, its merchant admin, a system admin): releases the hold in
// full. Intent first (AUTHORIZED → VOIDING with the reason), then CreditService.Void keyed
// "void:<txn>", then VOIDED.
import { create } from "@bufbuild/protobuf";
import { Code, type HandlerContext } from "@connectrpc/connect";
import { VoidResponseSchema, type VoidRequest, type VoidResponse } from "../../gen/fuel/transaction/v1/transaction_pb.js";
import { principalOf } from "../../platform/context.js";
import { rpcError } from "../../platform/errors.js";
import { guardedWork, ticketOf, type IdempotencyTicket } from "../../platform/pg-guard.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { mayOperate, transactionNotFound } from "./access.js";
import { txnToProto } from "./convert.js";
import { holdExpiredError } from "./flows.js";
import { finish, priorOf } from "./keyed.js";
import { crashPoint, type TransactionSettings } from "./settings.js";
import { notAuthorized } from "./settle.js";
import * as store from "./store.js";
import type { TxnRow } from "./store.js";

function respond(row: TxnRow): VoidResponse {
  if (row.state === "EXPIRED") throw holdExpiredError();
  if (row.state !== "VOIDED") throw notAuthorized(row);
  return create(VoidResponseSchema, { transaction: txnToProto(row) });
}

export function voidTransaction(deps: ServiceDeps, s: TransactionSettings) {
  return async (req: VoidRequest, ctx: HandlerContext): Promise<VoidResponse> => {
    const p = principalOf(ctx);
    const id = v.uuid("transaction_id", req.transactionId);
    const reason = v.text("reason", req.reason, 1, 500);
    const row = await store.getTransaction(deps.pool, id);
    if (!row || !mayOperate(p, row, true)) throw transactionNotFound();

    const ticket = ticketOf(ctx);
    const prior = await priorOf(deps, ticket, VoidResponseSchema);
    if (prior.kind === "replay") return prior.response;
    if (prior.kind === "resume") return await finish(deps, s, ticket, VoidResponseSchema, prior.row, respond);

    if (row.state !== "AUTHORIZED") throw notAuthorized(row);
    const now = deps.now();
    const started = await guardedWork(deps.pool, store.IDEMPOTENCY_TABLE, ticket, async (tx) => {
      const moved = await store.transition(tx, id, ["AUTHORIZED"], "VOIDING", {
        void_reason: reason,
        update_time: now,
        recover_after: new Date(now.getTime() + s.recoveryGraceMs),
      });
      if (!moved) throw notAuthorized((await store.getTransaction(tx, id))!);
      await store.linkKey(tx, ticket.scope, ticket.key, id);
      return { value: moved, response: new Uint8Array() };
    });
    if (started.replayed) return await asRetry(deps, s, ticket);
    await crashPoint("after-void-intent");
    return await finish(deps, s, ticket, VoidResponseSchema, started.value, respond);
  };
}

async function asRetry(deps: ServiceDeps, s: TransactionSettings, ticket: IdempotencyTicket): Promise<VoidResponse> {
  const again = await priorOf(deps, ticket, VoidResponseSchema);
  if (again.kind === "replay") return again.response;
  if (again.kind === "resume") return await finish(deps, s, ticket, VoidResponseSchema, again.row, respond);
  throw rpcError(Code.Aborted, "IDEMPOTENCY_KEY_IN_PROGRESS", "a request with this idempotency key is still running; retry later");
}
