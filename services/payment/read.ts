// GetPayment and ListPayments (payment history): read-only, scoped to what the caller
// may see (access.ts); a payment outside that scope is NOT_FOUND.
import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext } from "@connectrpc/connect";
import {
  GetPaymentResponseSchema,
  ListPaymentsResponseSchema,
  PaymentStatus,
  type GetPaymentRequest,
  type GetPaymentResponse,
  type ListPaymentsRequest,
  type ListPaymentsResponse,
} from "../../gen/fuel/payment/v1/payment_pb.js";
import { invalidArgument, notFound } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { bankFilter, visibilityOf } from "./access.js";
import { paymentToProto, statusName } from "./convert.js";
import { allocationsOf, listPayments as listRows, visiblePayment, type ListFilter } from "./store.js";
import type { PayStatus } from "./status-rule.js";

export function getPayment(deps: ServiceDeps) {
  return async (req: GetPaymentRequest, ctx: HandlerContext): Promise<GetPaymentResponse> => {
    const id = v.uuid("payment_id", req.paymentId);
    const vis = visibilityOf(ctx);
    const row = await visiblePayment(deps.pool, id, vis);
    if (!row) throw notFound("payment", "PAYMENT_NOT_FOUND");
    const allocations = (await allocationsOf(deps.pool, [id])).get(id) ?? [];
    return create(GetPaymentResponseSchema, { payment: paymentToProto(row, allocations, bankFilter(vis)) });
  };
}

export function listFilterOf(req: ListPaymentsRequest): ListFilter {
  const statuses: PayStatus[] = req.statuses.map((s, i) => {
    const name = s === PaymentStatus.UNSPECIFIED ? null : statusName(s);
    if (!name) throw invalidArgument(`statuses[${i}]`, "is not a payment status");
    return name;
  });
  const start = req.startTime ? timestampDate(req.startTime) : null;
  const end = req.endTime ? timestampDate(req.endTime) : null;
  if (start && end && start.getTime() > end.getTime()) throw invalidArgument("start_time", "must not be after end_time");
  const token = v.decodePageToken(req.pageToken, ["t", "id"]);
  let after: ListFilter["after"] = null;
  if (token) {
    const t = new Date(token.t);
    if (Number.isNaN(t.getTime()) || !/^[0-9a-f-]{36}$/.test(token.id)) throw invalidArgument("page_token", "is not a token from a previous response");
    after = { createTime: t, paymentId: token.id };
  }
  return {
    statuses,
    loanId: v.optionalUuid("loan_id", req.loanId),
    driverId: v.optionalUuid("driver_id", req.driverId),
    agencyId: v.optionalUuid("agency_id", req.agencyId),
    start,
    end,
    after,
    limit: v.pageSize(req.pageSize),
  };
}

export function listPayments(deps: ServiceDeps) {
  return async (req: ListPaymentsRequest, ctx: HandlerContext): Promise<ListPaymentsResponse> => {
    const filter = listFilterOf(req);
    const vis = visibilityOf(ctx);
    const rows = await listRows(deps.pool, vis, { ...filter, limit: filter.limit + 1 });
    const page = rows.slice(0, filter.limit);
    const allocations = await allocationsOf(deps.pool, page.map((r) => r.payment_id));
    const last = page[page.length - 1];
    return create(ListPaymentsResponseSchema, {
      payments: page.map((r) => paymentToProto(r, allocations.get(r.payment_id) ?? [], bankFilter(vis))),
      nextPageToken: rows.length > filter.limit && last ? v.encodePageToken({ t: last.create_time.toISOString(), id: last.payment_id }) : "",
    });
  };
}
