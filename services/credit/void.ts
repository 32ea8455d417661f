// Void (internal, TransactionService on void): releases a pending hold in full (VOID entry).
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { VoidResponseSchema, type VoidRequest } from "../../gen/fuel/credit/v1/credit_pb.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { viewerOf } from "./access.js";
import { guardedTx, reasonText } from "./common.js";
import { holdToProto } from "./convert.js";
import type { RecentHolds } from "./recent-holds.js";
import { resolveAtOnce } from "./resolve-at-once.js";
import { expireOne, holdExpired, HoldOverdue, voidHold } from "./resolve.js";

export function voidHoldRpc(deps: ServiceDeps, recent: RecentHolds) {
  return async (req: VoidRequest, ctx: HandlerContext) => {
    const holdId = v.uuid("hold_id", req.holdId);
    const reason = reasonText("reason", req.reason);
    const actorId = viewerOf(ctx).actorId;
    const quick = await resolveAtOnce(deps, recent, ctx, {
      holdId, resolution: { to: "VOIDED", reason }, currency: null, actorId, schema: VoidResponseSchema,
      respond: (h, entryId) => create(VoidResponseSchema, { hold: holdToProto(h), journalEntryId: entryId }),
    });
    if (quick) return quick;
    try {
      return await guardedTx(deps, ctx, VoidResponseSchema, async (tx) => {
        const { hold, entryId } = await voidHold(tx, holdId, reason, actorId, deps.now());
        return create(VoidResponseSchema, { hold: holdToProto(hold), journalEntryId: entryId });
      });
    } catch (err) {
      if (err instanceof HoldOverdue) {
        await expireOne(deps, err.holdId);
        throw holdExpired();
      }
      throw err;
    }
  };
}
