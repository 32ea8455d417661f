// AssessRisk and ListRiskAssessments: the scorecard run over facts from KycService (KYC
// status, account age, agency membership), LoanService (repayment history, days past
// due) and our own lines and holds (utilisation, settled purchases); every run is kept.
// A score is computed only on every fact: a source that cannot answer, or a loan history
// longer than the bound, refuses the assessment instead of scoring what was read.
import { randomUUID } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { Role } from "../../gen/fuel/common/v1/common_pb.js";
import {
  AssessRiskResponseSchema,
  ListRiskAssessmentsResponseSchema,
  type AssessRiskRequest,
  type ListRiskAssessmentsRequest,
} from "../../gen/fuel/credit/v1/credit_pb.js";
import { RiskAssessmentSchema, RiskInputsSchema, type RiskAssessment } from "../../gen/fuel/credit/v1/risk_pb.js";
import { KycOverallStatus, KycService } from "../../gen/fuel/kyc/v1/kyc_pb.js";
import { LoanService, LoanStatus } from "../../gen/fuel/loan/v1/loan_pb.js";
import { principalOf } from "../../platform/context.js";
import { failedPrecondition, invalidArgument, notFound, rpcError } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { assessmentFor, viewerOf } from "./access.js";
import type { CreditSettings } from "./common.js";
import { assessmentFromRow } from "./convert.js";
import { scoreOf, SCORECARD_VERSION } from "./scorecard.js";
import * as store from "./store.js";

export type SubjectKind = "DRIVER" | "AGENCY";
export interface Subject {
  kind: SubjectKind;
  id: string;
}

export function subjectOf(s: { case: "driverId" | "agencyId"; value: string } | { case: undefined; value?: undefined }): Subject {
  if (s.case === "driverId") return { kind: "DRIVER", id: v.uuid("driver_id", s.value) };
  if (s.case === "agencyId") return { kind: "AGENCY", id: v.uuid("agency_id", s.value) };
  throw invalidArgument("subject", "driver_id or agency_id is required");
}

export interface SubjectProfile {
  kycVerified: boolean;
  createTime: Date;
  agencyId: string;
}

function dependencyError(err: unknown, what: string): ConnectError {
  const ce = ConnectError.from(err);
  if (ce.code === Code.NotFound || ce.code === Code.InvalidArgument) return notFound(what);
  return rpcError(Code.Unavailable, "DEPENDENCY_UNAVAILABLE", `KycService unavailable (${Code[ce.code]}); safe to retry`);
}

/** The subject's profile from KycService (NOT_FOUND if unknown). */
export async function profileOf(deps: ServiceDeps, s: Subject): Promise<SubjectProfile> {
  const kyc = deps.mesh.client(KycService);
  try {
    if (s.kind === "DRIVER") {
      const d = (await kyc.getDriver({ driverId: s.id })).driver!;
      return { kycVerified: d.kycStatus === KycOverallStatus.VERIFIED, createTime: d.createTime ? timestampDate(d.createTime) : new Date(0), agencyId: d.agencyId };
    }
    const a = (await kyc.getAgency({ agencyId: s.id })).agency!;
    return { kycVerified: a.kycStatus === KycOverallStatus.VERIFIED, createTime: a.createTime ? timestampDate(a.createTime) : new Date(0), agencyId: "" };
  } catch (err) {
    throw dependencyError(err, s.kind === "DRIVER" ? "driver" : "agency");
  }
}

/** How a loan history is read: pages of `riskHistoryPageSize`, at most `riskHistoryMaxLoans` loans. */
export type HistoryLimits = Pick<CreditSettings, "riskHistoryPageSize" | "riskHistoryMaxLoans">;

interface LoanFacts {
  /** Every loan of the subject that was read: all of them. */
  count: number;
  repaid: number;
  repaidLate: number;
  maxDaysPastDue: number;
  hasDefaulted: boolean;
}

/** LoanService did not give the whole history: nothing is scored, the caller may retry. */
function factsUnavailable(err: unknown): ConnectError {
  const code = Code[ConnectError.from(err).code];
  return rpcError(Code.Unavailable, "RISK_FACTS_UNAVAILABLE", `the repayment history from LoanService is unavailable (${code}); nothing was scored; safe to retry`, {
    source: "fuel.loan.v1.LoanService",
    code,
  });
}

const historyTooLong = (maxLoans: number) =>
  failedPrecondition("RISK_HISTORY_TOO_LONG", `the subject has more than ${maxLoans} loans, more than an assessment reads (CREDIT_RISK_HISTORY_MAX_LOANS); nothing was scored`, {
    max_loans: String(maxLoans),
  });

/**
 * The subject's whole repayment history from LoanService, page by page to the end. A
 * failing page, or more loans (or pages) than the bound allows, fails the read: a partial
 * history would score a subject on facts that are not all there.
 */
async function loanFacts(deps: ServiceDeps, limits: HistoryLimits, s: Subject): Promise<LoanFacts> {
  const facts: LoanFacts = { count: 0, repaid: 0, repaidLate: 0, maxDaysPastDue: 0, hasDefaulted: false };
  const loans = deps.mesh.client(LoanService);
  // A full page per page, and one more that may come back empty.
  const maxPages = Math.ceil(limits.riskHistoryMaxLoans / limits.riskHistoryPageSize) + 1;
  let pageToken = "";
  for (let page = 0; ; page++) {
    if (page >= maxPages) throw historyTooLong(limits.riskHistoryMaxLoans);
    let res;
    try {
      res = await loans.listLoans({ ...(s.kind === "DRIVER" ? { driverId: s.id } : { agencyId: s.id }), pageSize: limits.riskHistoryPageSize, pageToken });
    } catch (err) {
      throw factsUnavailable(err);
    }
    facts.count += res.loans.length;
    if (facts.count > limits.riskHistoryMaxLoans) throw historyTooLong(limits.riskHistoryMaxLoans);
    for (const l of res.loans) {
      if (l.status === LoanStatus.PAID_OFF) {
        facts.repaid++;
        if (l.paidOffTime && l.dueTime && timestampDate(l.paidOffTime) > timestampDate(l.dueTime)) facts.repaidLate++;
      } else if (l.daysPastDue > facts.maxDaysPastDue) {
        facts.maxDaysPastDue = l.daysPastDue;
      }
      if (l.status === LoanStatus.DEFAULTED || l.defaultTime) facts.hasDefaulted = true;
    }
    pageToken = res.nextPageToken;
    if (!pageToken) return facts;
  }
}

/** Runs the scorecard for `s` now and stores the assessment. */
export async function runAssessment(
  deps: ServiceDeps,
  limits: HistoryLimits,
  s: Subject,
  requestedByBankId: string | null,
  profile?: SubjectProfile,
): Promise<RiskAssessment> {
  const now = deps.now();
  const p = profile ?? (await profileOf(deps, s));
  const [loans, ledger] = await Promise.all([
    loanFacts(deps, limits, s),
    store.ledgerFacts(deps.pool, s.kind, s.id, new Date(now.getTime() - 90 * 86400_000)),
  ]);
  const accountAgeDays = Math.max(0, Math.floor((now.getTime() - p.createTime.getTime()) / 86400_000));
  const result = scoreOf({
    subject: s.kind,
    kycVerified: p.kycVerified,
    accountAgeDays,
    agencyId: p.agencyId,
    loansRepaidCount: loans.repaid,
    loansRepaidLateCount: loans.repaidLate,
    maxDaysPastDue: loans.maxDaysPastDue,
    hasDefaulted: loans.hasDefaulted,
    utilisationBps: ledger.utilisationBps,
    settledTransactions90d: ledger.settled90d,
  });
  const assessment = create(RiskAssessmentSchema, {
    riskAssessmentId: randomUUID(),
    subject: s.kind === "DRIVER" ? { case: "driverId", value: s.id } : { case: "agencyId", value: s.id },
    score: result.score,
    category: result.category,
    reasons: result.reasons,
    inputs: create(RiskInputsSchema, {
      kycVerified: p.kycVerified,
      accountAgeDays,
      agencyId: p.agencyId,
      loansCount: loans.count,
      loansRepaidCount: loans.repaid,
      loansRepaidLateCount: loans.repaidLate,
      maxDaysPastDue: loans.maxDaysPastDue,
      hasDefaulted: loans.hasDefaulted,
      utilisationBps: ledger.utilisationBps ?? 0,
      settledTransactions90d: ledger.settled90d,
    }),
    scorecardVersion: SCORECARD_VERSION,
    requestedByBankId: requestedByBankId ?? "",
    assessTime: timestampFromDate(now),
  });
  await store.insertAssessment(deps.pool, {
    assessment_id: assessment.riskAssessmentId,
    subject_kind: s.kind,
    subject_id: s.id,
    category: assessment.category,
    requested_by_bank_id: requestedByBankId,
    assess_time: now,
    body: Buffer.from(toBinary(RiskAssessmentSchema, assessment)),
  });
  return assessment;
}

export function assessRisk(deps: ServiceDeps, limits: HistoryLimits) {
  return async (req: AssessRiskRequest, ctx: HandlerContext) => {
    const s = subjectOf(req.subject);
    const p = principalOf(ctx);
    const bankId = p.role === Role.SYSTEM_ADMIN ? null : p.bankId || null;
    return create(AssessRiskResponseSchema, { assessment: await runAssessment(deps, limits, s, bankId) });
  };
}

export function listRiskAssessments(deps: ServiceDeps) {
  return async (req: ListRiskAssessmentsRequest, ctx: HandlerContext) => {
    const s = subjectOf(req.subject);
    const limit = v.pageSize(req.pageSize);
    const token = v.decodePageToken(req.pageToken, ["t", "id", "s"]);
    if (token && token.s !== s.id) throw invalidArgument("page_token", "was issued for a different subject");
    const after = token ? { time: new Date(token.t), id: v.uuid("page_token", token.id) } : null;
    if (after && Number.isNaN(after.time.getTime())) throw invalidArgument("page_token", "is not a token from a previous response");
    const p = principalOf(ctx);
    if (p.role !== Role.SYSTEM_ADMIN && !(p.bankId && (await store.bankKnowsSubject(deps.pool, p.bankId, s.kind, s.id)))) {
      throw notFound(s.kind === "DRIVER" ? "driver" : "agency");
    }
    const rows = await store.listAssessments(deps.pool, s.kind, s.id, p.role === Role.SYSTEM_ADMIN ? null : p.bankId, after, limit);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return create(ListRiskAssessmentsResponseSchema, {
      assessments: page.map((r) => assessmentFor(viewerOf(ctx), assessmentFromRow(r))),
      nextPageToken: rows.length > limit && last ? v.encodePageToken({ t: last.assess_time.toISOString(), id: last.assessment_id, s: s.id }) : "",
    });
  };
}
