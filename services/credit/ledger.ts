// ListLedgerEntries: the journal entries touching one line, newest first.
import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext } from "@connectrpc/connect";
import { ListLedgerEntriesResponseSchema, type ListLedgerEntriesRequest } from "../../gen/fuel/credit/v1/credit_pb.js";
import { JournalEntryKind } from "../../gen/fuel/credit/v1/ledger_pb.js";
import { invalidArgument } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { viewerOf, visibleOr404 } from "./access.js";
import { entryToProto } from "./convert.js";
import { listEntries } from "./ledger-store.js";
import * as store from "./store.js";

export function listLedgerEntries(deps: ServiceDeps) {
  return async (req: ListLedgerEntriesRequest, ctx: HandlerContext) => {
    const lineId = v.uuid("credit_line_id", req.creditLineId);
    const limit = v.pageSize(req.pageSize);
    const start = req.startTime ? timestampDate(req.startTime) : null;
    const end = req.endTime ? timestampDate(req.endTime) : null;
    if (start && end && start > end) throw invalidArgument("start_time", "must not be after end_time");
    const kinds = req.kinds.map((k) => v.enumValue("kinds", k, JournalEntryKind));
    const token = v.decodePageToken(req.pageToken, ["t", "id"]);
    let after: { time: Date; id: string } | null = null;
    if (token) {
      after = { time: new Date(token.t), id: v.uuid("page_token", token.id) };
      if (Number.isNaN(after.time.getTime())) throw invalidArgument("page_token", "is not a token from a previous response");
    }
    visibleOr404(viewerOf(ctx), await store.getLine(deps.pool, lineId));
    const rows = await listEntries(deps.pool, lineId, { start, end, kinds, after, limit });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return create(ListLedgerEntriesResponseSchema, {
      entries: page.map(entryToProto),
      nextPageToken: rows.length > limit && last ? v.encodePageToken({ t: last.create_time.toISOString(), id: last.entry_id }) : "",
    });
  };
}
