// Void (terminal of the station, its merchant admin, a system admin): releases the hold in
// full. Intent first (AUTHORIZED → VOIDING with the reason, in one statement with the
// idempotency key's row), then CreditService.Void keyed
// "void:<txn>", then VOIDED.
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { VoidResponseSchema, type VoidRequest, type VoidResponse } from "../../gen/fuel/transaction/v1/transaction_pb.js";
import { principalOf } from "../../platform/context.js";
import { ticketOf } from "../../platform/pg-guard.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { mayOperate, operatorOf, transactionNotFound } from "./access.js";
import { txnToProto } from "./convert.js";
import { holdExpiredError } from "./flows.js";
import type { TransactionSettings } from "./settings.js";
import { notAuthorized } from "./settle.js";
import { runStep, type KeyedCall } from "./step.js";
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
    const call: KeyedCall<typeof VoidResponseSchema> = { ticket: ticketOf(ctx), schema: VoidResponseSchema, respond, crashAt: "after-void-intent" };
    const operator = operatorOf(p, true);
    const now = deps.now();
    const intent = async () => operator ? await store.startStep(deps.pool, id, "VOIDING", call.ticket, operator, { approvedAtLeast: 0n, currency: null }, {
      void_reason: reason,
      update_time: now,
      recover_after: new Date(now.getTime() + s.recoveryGraceMs),
    }) : undefined;
    return await runStep(deps, s, call, intent, async () => {
      const row = await store.getTransaction(deps.pool, id);
      if (!row || !mayOperate(p, row, true)) return transactionNotFound();
      return notAuthorized(row);
    });
  };
}
