// GetTransaction / ListTransactions, scoped to what the caller may see (access.ts).
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import {
  GetTransactionResponseSchema,
  ListTransactionsResponseSchema,
  TransactionStatus,
  type GetTransactionRequest,
  type GetTransactionResponse,
  type ListTransactionsRequest,
  type ListTransactionsResponse,
} from "../../gen/fuel/transaction/v1/transaction_pb.js";
import { invalidArgument } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { readScope, scopeFilter, visibleOr404 } from "./access.js";
import { dateOf } from "./common.js";
import { txnToProto } from "./convert.js";
import { statesOf, type State } from "./state.js";
import * as store from "./store.js";

export function getTransaction(deps: ServiceDeps) {
  return async (req: GetTransactionRequest, ctx: HandlerContext): Promise<GetTransactionResponse> => {
    const id = v.uuid("transaction_id", req.transactionId);
    const row = visibleOr404(readScope(ctx), await store.getTransaction(deps.pool, id));
    return create(GetTransactionResponseSchema, { transaction: txnToProto(row) });
  };
}

export function listTransactions(deps: ServiceDeps) {
  return async (req: ListTransactionsRequest, ctx: HandlerContext): Promise<ListTransactionsResponse> => {
    const driverId = v.optionalUuid("driver_id", req.driverId);
    const agencyId = v.optionalUuid("agency_id", req.agencyId);
    const stationId = v.optionalUuid("station_id", req.stationId);
    const merchantId = v.optionalUuid("merchant_id", req.merchantId);
    const creditLineId = v.optionalUuid("credit_line_id", req.creditLineId);
    let states: State[] | undefined;
    if (req.statuses.length > 0) {
      states = [];
      req.statuses.forEach((st, i) => states!.push(...statesOf(v.enumValue(`statuses[${i}]`, st, TransactionStatus) as TransactionStatus)));
    }
    const start = dateOf(req.startTime);
    const end = dateOf(req.endTime);
    if (start && end && start.getTime() > end.getTime()) throw invalidArgument("start_time", "must not be after end_time");
    const limit = v.pageSize(req.pageSize);
    const token = v.decodePageToken(req.pageToken, ["t", "id"]);
    let after: { time: Date; id: string } | undefined;
    if (token) {
      const time = new Date(token.t);
      if (Number.isNaN(time.getTime())) throw invalidArgument("page_token", "is not a token from a previous response");
      after = { time, id: v.uuid("page_token", token.id) };
    }

    const scoped = scopeFilter(readScope(ctx));
    if (scoped === false) return create(ListTransactionsResponseSchema, {});
    // The caller's own scope narrows first; a filter naming someone else's id finds nothing.
    const filter: store.ListFilter = { limit: limit + 1, states, start, end, after };
    const pick = (own: string | undefined, asked: string | null): string | undefined | false =>
      own && asked && own !== asked ? false : (own ?? asked ?? undefined);
    const d = pick(scoped.driverId, driverId);
    const a = pick(scoped.agencyId, agencyId);
    const st = pick(scoped.stationId, stationId);
    const m = pick(scoped.merchantId, merchantId);
    if (d === false || a === false || st === false || m === false) return create(ListTransactionsResponseSchema, {});
    Object.assign(filter, { driverId: d, agencyId: a, stationId: st, merchantId: m, bankId: scoped.bankId, creditLineId: creditLineId ?? undefined });

    const rows = await store.listTransactions(deps.pool, filter);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return create(ListTransactionsResponseSchema, {
      transactions: page.map(txnToProto),
      nextPageToken: rows.length > limit && last ? v.encodePageToken({ t: last.create_time.toISOString(), id: last.transaction_id }) : "",
    });
  };
}
