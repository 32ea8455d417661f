// ListHolds: the holds on one line, newest first — a driver's own, or every hold of an
// agency's drivers on the agency's line.
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { ListHoldsResponseSchema, type ListHoldsRequest } from "../../gen/fuel/credit/v1/credit_pb.js";
import { HoldStatus } from "../../gen/fuel/credit/v1/ledger_pb.js";
import { invalidArgument } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { viewerOf, visibleOr404 } from "./access.js";
import { HOLD_STATUS, holdToProto } from "./convert.js";
import * as store from "./store.js";

/** The stored status of each contract status a caller may filter on. */
const STORED_STATUS = new Map<HoldStatus, store.HoldRow["status"]>(
  (Object.entries(HOLD_STATUS) as Array<[store.HoldRow["status"], HoldStatus]>).map(([stored, status]) => [status, stored]),
);

export function listHolds(deps: ServiceDeps) {
  return async (req: ListHoldsRequest, ctx: HandlerContext) => {
    const lineId = v.uuid("credit_line_id", req.creditLineId);
    const limit = v.pageSize(req.pageSize);
    const statuses = [...new Set(req.statuses)].map((s) => {
      const stored = STORED_STATUS.get(s);
      if (!stored) throw invalidArgument("statuses", `${s} is not a hold status`);
      return stored;
    });
    const token = v.decodePageToken(req.pageToken, ["t", "id"]);
    let after: { time: Date; id: string } | null = null;
    if (token) {
      after = { time: new Date(token.t), id: v.uuid("page_token", token.id) };
      if (Number.isNaN(after.time.getTime())) throw invalidArgument("page_token", "is not a token from a previous response");
    }
    const line = visibleOr404(viewerOf(ctx), await store.getLine(deps.pool, lineId));
    const rows = await store.listHolds(deps.pool, line, { statuses, after, limit });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return create(ListHoldsResponseSchema, {
      holds: page.map(holdToProto),
      nextPageToken: rows.length > limit && last ? v.encodePageToken({ t: last.create_time.toISOString(), id: last.hold_id }) : "",
    });
  };
}
