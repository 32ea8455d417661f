// UpdateSpendingControls: replaces a line's fleet-card controls as a whole. Applies to
// authorisations made after the change; pending holds are unaffected.
import { create, toBinary } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { SpendingControlsSchema } from "../../gen/fuel/credit/v1/credit_line_pb.js";
import { UpdateSpendingControlsResponseSchema, type UpdateSpendingControlsRequest } from "../../gen/fuel/credit/v1/credit_pb.js";
import { withTx } from "../../platform/db.js";
import { failedPrecondition } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { lineNotFound, requireChange, viewerOf } from "./access.js";
import { versionMismatch } from "./common.js";
import { hasDailyLimits, normalizeControls } from "./controls-rule.js";
import { lineToProto } from "./convert.js";
import * as store from "./store.js";

export function updateSpendingControls(deps: ServiceDeps) {
  return async (req: UpdateSpendingControlsRequest, ctx: HandlerContext) => {
    const viewer = viewerOf(ctx);
    const id = v.uuid("credit_line_id", req.creditLineId);
    const line = await store.getLine(deps.pool, id);
    if (!line) throw lineNotFound();
    requireChange(viewer, line, "controls");
    const controls = normalizeControls(req.controls, line.currency);
    const saved = await withTx(deps.pool, async (tx) => {
      const cur = (await store.lockLines(tx, [id])).get(id)!;
      if (cur.version !== req.expectedVersion) throw versionMismatch(cur.version);
      if (cur.status === "CLOSED") throw failedPrecondition("CREDIT_LINE_CLOSED", "the line is closed");
      return (await store.updateLineIfVersion(tx, id, cur.version, {
        controls: controls ? Buffer.from(toBinary(SpendingControlsSchema, controls)) : null,
        daily_controls: hasDailyLimits(controls),
      }, deps.now()))!;
    });
    return create(UpdateSpendingControlsResponseSchema, { creditLine: lineToProto(saved) });
  };
}
