// Capture (internal, TransactionService on settle): posts an amount ≤ the hold and
// releases the rest, on both lines, in one CAPTURE entry. Resolves the hold for good.
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { CaptureResponseSchema, type CaptureRequest } from "../../gen/fuel/credit/v1/credit_pb.js";
import { invalidArgument } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { viewerOf } from "./access.js";
import { guardedTx, moneyIn } from "./common.js";
import { holdToProto } from "./convert.js";
import type { RecentHolds } from "./recent-holds.js";
import { resolveAtOnce } from "./resolve-at-once.js";
import { captureHold, expireOne, holdExpired, HoldOverdue } from "./resolve.js";

export function capture(deps: ServiceDeps, recent: RecentHolds) {
  return async (req: CaptureRequest, ctx: HandlerContext) => {
    const holdId = v.uuid("hold_id", req.holdId);
    const amount = moneyIn("amount", req.amount, { min: 0n });
    const actorId = viewerOf(ctx).actorId;
    const quick = await resolveAtOnce(deps, recent, ctx, {
      holdId, resolution: { to: "CAPTURED", captured: amount.amount }, currency: amount.currency, actorId, schema: CaptureResponseSchema,
      respond: (h, entryId) => create(CaptureResponseSchema, { hold: holdToProto(h), journalEntryId: entryId }),
    });
    if (quick) return quick;
    try {
      return await guardedTx(deps, ctx, CaptureResponseSchema, async (tx) => {
        const { hold, entryId } = await captureHold(tx, holdId, amount.amount, actorId, deps.now());
        if (hold.currency !== amount.currency) throw invalidArgument("amount.currency", `must be the hold's currency ${hold.currency}`);
        return create(CaptureResponseSchema, { hold: holdToProto(hold), journalEntryId: entryId });
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
