// The risk scorecard: explainable points over what we know about a driver or an agency.
// Pure: no I/O. Every factor that moved the score is returned with its points, largest
// first, so a bank can see why a limit is what it is. Change the rules → bump VERSION.
//
//   base 600
//   KYC verified +100 | not verified −300 and INELIGIBLE
//   account < 90 days −50 | ≥ 90 days +40 | ≥ 365 days +80
//   driver in an agency +50
//   no repayment history −30 | on-time repaid loans +15 each (max +150)
//   late repayments −25 each; current days past due −2 per day (max −200)
//   any default −400 and INELIGIBLE
//   utilisation ≥ 80 % −60 | < 30 % (with a line) +30
//   settled purchases in 90 days < 5 −20 | ≥ 20 +50
//   category: LOW ≥ 750, MEDIUM ≥ 600, HIGH ≥ 450, else INELIGIBLE (score 0–1000)
import { RiskCategory } from "../../gen/fuel/credit/v1/credit_line_pb.js";
import { RiskReasonCode } from "../../gen/fuel/credit/v1/risk_pb.js";

export const SCORECARD_VERSION = "2026-11-v2";
export const BASE_SCORE = 600;

export interface ScoreInputs {
  subject: "DRIVER" | "AGENCY";
  kycVerified: boolean;
  accountAgeDays: number;
  agencyId: string;
  loansRepaidCount: number;
  loansRepaidLateCount: number;
  maxDaysPastDue: number;
  hasDefaulted: boolean;
  /** (held + used) / limit in basis points; null without a line. */
  utilisationBps: number | null;
  settledTransactions90d: number;
}

export interface ScoreReason {
  code: RiskReasonCode;
  points: number;
  description: string;
}

export interface Score {
  score: number;
  category: RiskCategory;
  reasons: ScoreReason[];
}

export function categoryOf(score: number): RiskCategory {
  if (score >= 750) return RiskCategory.LOW;
  if (score >= 600) return RiskCategory.MEDIUM;
  if (score >= 450) return RiskCategory.HIGH;
  return RiskCategory.INELIGIBLE;
}

export function scoreOf(i: ScoreInputs): Score {
  const reasons: ScoreReason[] = [];
  const add = (code: RiskReasonCode, points: number, description: string) => reasons.push({ code, points, description });

  if (i.kycVerified) add(RiskReasonCode.KYC_VERIFIED, 100, "KYC verified");
  else add(RiskReasonCode.KYC_NOT_VERIFIED, -300, "KYC not verified");

  if (i.accountAgeDays < 90) add(RiskReasonCode.ACCOUNT_NEW, -50, `account ${i.accountAgeDays} days old (under 90)`);
  else if (i.accountAgeDays < 365) add(RiskReasonCode.ACCOUNT_ESTABLISHED, 40, `account ${i.accountAgeDays} days old`);
  else add(RiskReasonCode.ACCOUNT_ESTABLISHED, 80, `account ${i.accountAgeDays} days old (over a year)`);

  if (i.subject === "DRIVER" && i.agencyId !== "") add(RiskReasonCode.AGENCY_MEMBER, 50, "member of an agency");

  const onTime = Math.max(0, i.loansRepaidCount - i.loansRepaidLateCount);
  // Only repaid loans count as history: a first loan gone overdue must not lift the
  // score by taking "no history" away (it once did: 1 day past due scored 28 above none).
  if (i.loansRepaidCount === 0) {
    add(RiskReasonCode.NO_REPAYMENT_HISTORY, -30, "no repaid loans yet");
  } else if (onTime > 0) {
    add(RiskReasonCode.ON_TIME_REPAYMENTS, Math.min(150, 15 * onTime), `${onTime} loans repaid on time`);
  }
  if (i.loansRepaidLateCount > 0 || i.maxDaysPastDue > 0) {
    const points = -(25 * i.loansRepaidLateCount + Math.min(200, 2 * i.maxDaysPastDue));
    add(RiskReasonCode.DAYS_PAST_DUE, points, `${i.loansRepaidLateCount} loans repaid late; ${i.maxDaysPastDue} days past due now`);
  }
  if (i.hasDefaulted) add(RiskReasonCode.DEFAULT_HISTORY, -400, "a loan has defaulted");

  if (i.utilisationBps !== null) {
    if (i.utilisationBps >= 8000) add(RiskReasonCode.HIGH_UTILISATION, -60, `utilisation ${(i.utilisationBps / 100).toFixed(0)}%`);
    else if (i.utilisationBps < 3000) add(RiskReasonCode.LOW_UTILISATION, 30, `utilisation ${(i.utilisationBps / 100).toFixed(0)}%`);
  }

  if (i.settledTransactions90d < 5) add(RiskReasonCode.THIN_TRANSACTION_HISTORY, -20, `${i.settledTransactions90d} settled purchases in 90 days`);
  else if (i.settledTransactions90d >= 20) add(RiskReasonCode.ESTABLISHED_TRANSACTION_HISTORY, 50, `${i.settledTransactions90d} settled purchases in 90 days`);

  const raw = reasons.reduce((s, r) => s + r.points, BASE_SCORE);
  const score = Math.max(0, Math.min(1000, raw));
  const category = !i.kycVerified || i.hasDefaulted ? RiskCategory.INELIGIBLE : categoryOf(score);
  reasons.sort((a, b) => Math.abs(b.points) - Math.abs(a.points) || a.code - b.code);
  return { score, category, reasons };
}
