// Registers CreditService: one file per RPC or small group, wired here.
//   risk.ts          AssessRisk, ListRiskAssessments      (scorecard.ts: the pure rule)
//   policy.ts        GetCreditPolicy, SetCreditPolicy      (limit-rules.ts)
//   lines.ts         Create/Get/List, UpdateCreditLimit, Freeze/Unfreeze/Close
//   programs.ts      Create/Get/List/UpdateCreditProgram   (program-store.ts)
//   controls.ts      UpdateSpendingControls                (controls-rule.ts)
//   availability.ts  GetAvailableCredit, CheckAvailability (hold-rule.ts)
//   hold.ts          Hold            capture.ts  Capture     void.ts  Void
//   expire.ts        ExpireHolds + the sweeper             get-hold.ts  GetHold
//   restore.ts       RestoreCredit   ledger.ts   ListLedgerEntries   verify-ledger.ts  VerifyLedger
// SQL lives in store.ts and ledger-store.ts; postings.ts builds every balanced entry.
import type { ConnectRouter } from "@connectrpc/connect";
import { CreditService } from "../../gen/fuel/credit/v1/credit_pb.js";
import { checkAvailability, getAvailableCredit } from "./availability.js";
import { capture } from "./capture.js";
import type { CreditSettings } from "./common.js";
import type { CreditContext } from "./context.js";
import { updateSpendingControls } from "./controls.js";
import { expireHolds } from "./expire.js";
import { getHold } from "./get-hold.js";
import { hold } from "./hold.js";
import { listLedgerEntries } from "./ledger.js";
import { listHolds } from "./list-holds.js";
import {
  closeCreditLine,
  createCreditLine,
  freezeCreditLine,
  getCreditLine,
  listCreditLines,
  unfreezeCreditLine,
  updateCreditLimit,
} from "./lines.js";
import { getCreditPolicy, setCreditPolicy } from "./policy.js";
import { createCreditProgram, getCreditProgram, listCreditPrograms, updateCreditProgram } from "./programs.js";
import { restoreCredit } from "./restore.js";
import { assessRisk, listRiskAssessments } from "./risk.js";
import { verifyLedgerRpc } from "./verify-ledger.js";
import { voidHoldRpc } from "./void.js";

export function routes(router: ConnectRouter, deps: CreditContext, settings: CreditSettings): void {
  router.service(CreditService, {
    assessRisk: assessRisk(deps, settings),
    listRiskAssessments: listRiskAssessments(deps),
    getCreditPolicy: getCreditPolicy(deps),
    setCreditPolicy: setCreditPolicy(deps),
    createCreditProgram: createCreditProgram(deps),
    getCreditProgram: getCreditProgram(deps),
    listCreditPrograms: listCreditPrograms(deps),
    updateCreditProgram: updateCreditProgram(deps),
    createCreditLine: createCreditLine(deps, settings),
    getCreditLine: getCreditLine(deps),
    listCreditLines: listCreditLines(deps),
    updateCreditLimit: updateCreditLimit(deps),
    updateSpendingControls: updateSpendingControls(deps),
    freezeCreditLine: freezeCreditLine(deps),
    unfreezeCreditLine: unfreezeCreditLine(deps),
    closeCreditLine: closeCreditLine(deps),
    getAvailableCredit: getAvailableCredit(deps),
    checkAvailability: checkAvailability(deps),
    hold: hold(deps, settings, deps.recentHolds),
    capture: capture(deps, deps.recentHolds),
    void: voidHoldRpc(deps, deps.recentHolds),
    expireHolds: expireHolds(deps),
    getHold: getHold(deps),
    restoreCredit: restoreCredit(deps),
    listLedgerEntries: listLedgerEntries(deps),
    listHolds: listHolds(deps),
    verifyLedger: verifyLedgerRpc(deps),
  });
}
