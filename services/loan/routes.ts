// Registers LoanService: one file per RPC or small group, wired here.
//   products.ts     Create/Update/Get/ListLoanProducts
//   create-loan.ts  CreateLoanFromSettlement (internal): its one statement in
//                   create-loan-sql.ts, products as last seen in product-terms.ts
//   loans.ts        GetLoan, ListLoans            statement.ts  GetLoanStatement
//   repay.ts        RepayLoan, ApplyRepayment (internal)
//   aging.ts        RunAging + the periodic job
//   aging-report.ts GetAgingReport (buckets in aging-report-rule.ts)
//   outbox.ts       credit restores and borrower notices, relayed to other services
// GetOutboxStatus is the platform's (platform/outbox-status.ts).
// Pure rules: interest.ts (fee, daily interest, balance replay),
// allocation.ts (fees → interest → principal), aging-rule.ts, due-date.ts,
// create-loan-rule.ts (a settlement, its product, the loan it makes).
// SQL lives in store.ts; rows become messages in convert.ts; access.ts scopes reads.
import type { ConnectRouter } from "@connectrpc/connect";
import { LoanService } from "../../gen/fuel/loan/v1/loan_pb.js";
import type { LoanContext } from "./context.js";
import { runAgingRpc } from "./aging.js";
import { getAgingReport } from "./aging-report.js";
import { createLoanFromSettlement } from "./create-loan.js";
import { getLoan, listLoans } from "./loans.js";
import { createLoanProduct, getLoanProduct, listLoanProducts, updateLoanProduct } from "./products.js";
import { applyRepayment, repayLoan } from "./repay.js";
import { getLoanStatement } from "./statement.js";
import { outboxStatus } from "../../platform/outbox-status.js";

export function routes(router: ConnectRouter, deps: LoanContext): void {
  router.service(LoanService, {
    listLoans: listLoans(deps),
    getLoan: getLoan(deps),
    getLoanStatement: getLoanStatement(deps),
    repayLoan: repayLoan(deps),
    createLoanFromSettlement: createLoanFromSettlement(deps),
    applyRepayment: applyRepayment(deps),
    createLoanProduct: createLoanProduct(deps),
    updateLoanProduct: updateLoanProduct(deps),
    getLoanProduct: getLoanProduct(deps),
    listLoanProducts: listLoanProducts(deps),
    runAging: runAgingRpc(deps),
    getAgingReport: getAgingReport(deps),
    getOutboxStatus: async () => ({ status: await outboxStatus(deps.relay) }),
  });
}
