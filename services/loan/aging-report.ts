// GetAgingReport: the open loans a caller may see, in buckets of days past due, with what
// each bucket has outstanding per currency, computed from balances as of now. Read page
// by page (loan_id order, on the scope's partial index), bounded by OPEN_LOANS_MAX.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext } from "@connectrpc/connect";
import { AgingBucketSchema, GetAgingReportResponseSchema, type GetAgingReportRequest } from "../../gen/fuel/loan/v1/loan_pb.js";
import { MoneySchema } from "../../gen/fuel/common/v1/common_pb.js";
import { failedPrecondition } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { scopeOf } from "./access.js";
import { pastDue } from "./aging-rule.js";
import { AGING_BUCKETS, AgingTotals } from "./aging-report-rule.js";
import { loanBalances } from "./convert.js";
import { totalOutstanding } from "./interest.js";
import * as store from "./store.js";

/** Open loans one report reads at most; past this the caller narrows it by bank. */
export const OPEN_LOANS_MAX = 200_000;
const PAGE = 1_000;
const FIRST_ID = "00000000-0000-0000-0000-000000000000";

export function getAgingReport(deps: ServiceDeps) {
  return async (req: GetAgingReportRequest, ctx: HandlerContext) => {
    const bankId = v.optionalUuid("bank_id", req.bankId);
    const scope = scopeOf(ctx);
    const asOf = deps.now();
    const totals = new AgingTotals();
    let examined = 0;
    if (scope.kind !== "none") {
      let after = FIRST_ID;
      for (;;) {
        const page = await store.openLoansPage(deps.pool, { scope: scope.kind === "row" ? scope : null, bankId, after, limit: PAGE });
        examined += page.length;
        if (examined > OPEN_LOANS_MAX) {
          throw failedPrecondition("AGING_REPORT_TOO_LARGE", `more than ${OPEN_LOANS_MAX} open loans are in scope; narrow the report with bank_id`);
        }
        const reps = await store.repaymentsOf(deps.pool, page.map((l) => l.loan_id));
        for (const loan of page) {
          const outstanding = totalOutstanding(loanBalances(loan, reps.get(loan.loan_id)!, asOf));
          if (outstanding <= 0n) continue;
          totals.add(pastDue(outstanding, loan.due_time, asOf).daysPastDue, loan.currency, outstanding);
        }
        if (page.length < PAGE) break;
        after = page[page.length - 1]!.loan_id;
      }
    }
    return create(GetAgingReportResponseSchema, {
      asOfTime: timestampFromDate(asOf),
      loansExamined: BigInt(examined),
      buckets: AGING_BUCKETS.map((range, i) => {
        const t = totals.buckets[i]!;
        return create(AgingBucketSchema, {
          minDaysPastDue: range.minDays,
          maxDaysPastDue: range.maxDays ?? -1,
          loanCount: BigInt(t.loanCount),
          outstanding: [...t.outstandingMinor].sort(([a], [b]) => a.localeCompare(b)).map(([currency, amountMinor]) => create(MoneySchema, { amountMinor, currency })),
        });
      }),
    });
  };
}
