// GetLoan and ListLoans: loans the caller may see, with balances as of now (interest
// accrued to the last full day).
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { GetLoanResponseSchema, ListLoansResponseSchema, LoanStatus, type GetLoanRequest, type ListLoansRequest } from "../../gen/fuel/loan/v1/loan_pb.js";
import { invalidArgument } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { canSee, loanNotFound, scopeOf } from "./access.js";
import { pageAfter, timeIn } from "./common.js";
import { loanToProto, statusName } from "./convert.js";
import * as store from "./store.js";

export function getLoan(deps: ServiceDeps) {
  return async (req: GetLoanRequest, ctx: HandlerContext) => {
    const loanId = v.uuid("loan_id", req.loanId);
    const scope = scopeOf(ctx);
    const row = await store.getLoan(deps.pool, loanId);
    if (!row || !canSee(scope, row)) throw loanNotFound();
    const reps = (await store.repaymentsOf(deps.pool, [loanId])).get(loanId)!;
    return create(GetLoanResponseSchema, { loan: loanToProto(row, reps, deps.now()) });
  };
}

export function listLoans(deps: ServiceDeps) {
  return async (req: ListLoansRequest, ctx: HandlerContext) => {
    const scope = scopeOf(ctx);
    const driverId = v.optionalUuid("driver_id", req.driverId);
    const agencyId = v.optionalUuid("agency_id", req.agencyId);
    const creditLineId = v.optionalUuid("credit_line_id", req.creditLineId);
    const statuses = req.statuses.map((s) => statusName(v.enumValue("statuses", s, LoanStatus) as LoanStatus));
    const start = timeIn("start_time", req.startTime);
    const end = timeIn("end_time", req.endTime);
    if (start && end && start > end) throw invalidArgument("start_time", "must not be after end_time");
    const size = v.pageSize(req.pageSize);
    const after = pageAfter(req.pageToken);
    if (scope.kind === "none") return create(ListLoansResponseSchema, {});
    const rows = await store.listLoans(deps.pool, {
      scope: scope.kind === "row" ? { column: scope.column, value: scope.value } : null,
      driverId, agencyId, creditLineId, statuses, start, end, after, limit: size + 1,
    });
    const page = rows.slice(0, size);
    const reps = await store.repaymentsOf(deps.pool, page.map((r) => r.loan_id));
    const now = deps.now();
    const last = page[page.length - 1];
    return create(ListLoansResponseSchema, {
      loans: page.map((r) => loanToProto(r, reps.get(r.loan_id)!, now)),
      nextPageToken: rows.length > size && last ? v.encodePageToken({ t: last.disburse_time.toISOString(), id: last.loan_id }) : "",
    });
  };
}
