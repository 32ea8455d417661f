// Rows → protobuf messages.
import { create, fromBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { MoneySchema, type Money } from "../../gen/fuel/common/v1/common_pb.js";
import {
  CreditLineSchema,
  CreditLineStatus,
  SpendingControlsSchema,
  type CreditLine,
  type SpendingControls,
} from "../../gen/fuel/credit/v1/credit_line_pb.js";
import { HoldSchema, HoldStatus, JournalEntrySchema, type Hold, type JournalEntry } from "../../gen/fuel/credit/v1/ledger_pb.js";
import { CategoryLimitSchema, CreditPolicySchema, RiskAssessmentSchema, type CreditPolicy, type RiskAssessment } from "../../gen/fuel/credit/v1/risk_pb.js";
import { RiskCategory } from "../../gen/fuel/credit/v1/credit_line_pb.js";
import type { EntryRow } from "./ledger-store.js";
import type { AssessmentRow, HoldRow, LineRow, PolicyRow } from "./store.js";

export const money = (amountMinor: bigint, currency: string): Money => create(MoneySchema, { amountMinor, currency });

export const LINE_STATUS: Record<LineRow["status"], CreditLineStatus> = {
  ACTIVE: CreditLineStatus.ACTIVE,
  FROZEN: CreditLineStatus.FROZEN,
  CLOSED: CreditLineStatus.CLOSED,
};

export function lineStatusName(s: CreditLineStatus): LineRow["status"] | null {
  return s === CreditLineStatus.ACTIVE ? "ACTIVE" : s === CreditLineStatus.FROZEN ? "FROZEN" : s === CreditLineStatus.CLOSED ? "CLOSED" : null;
}

export function controlsOf(row: { controls: Buffer | null }): SpendingControls | null {
  return row.controls ? fromBinary(SpendingControlsSchema, row.controls) : null;
}

export function lineToProto(r: LineRow): CreditLine {
  const m = (v: bigint) => money(v, r.currency);
  return create(CreditLineSchema, {
    creditLineId: r.line_id,
    bankId: r.bank_id,
    owner: r.owner_kind === "AGENCY" ? { case: "agencyId", value: r.owner_id } : { case: "driverId", value: r.owner_id },
    parentCreditLineId: r.parent_id ?? "",
    parentAgencyId: r.parent_agency_id ?? "",
    currency: r.currency,
    status: LINE_STATUS[r.status],
    limit: m(r.limit_minor),
    held: m(r.held),
    used: m(r.used),
    available: m(r.limit_minor - r.held - r.used),
    subLimit: r.sub_limit === null ? undefined : m(r.sub_limit),
    limitSource: r.limit_source,
    riskAssessmentId: r.risk_assessment_id ?? "",
    riskCategory: r.risk_category,
    overrideReason: r.override_reason,
    controls: controlsOf(r) ?? undefined,
    version: r.version,
    statusReason: r.status_reason,
    createTime: timestampFromDate(r.create_time),
    updateTime: timestampFromDate(r.update_time),
    closeTime: r.close_time ? timestampFromDate(r.close_time) : undefined,
    creditProgramId: r.program_id ?? "",
  });
}

export const HOLD_STATUS: Record<HoldRow["status"], HoldStatus> = {
  PENDING: HoldStatus.PENDING,
  CAPTURED: HoldStatus.CAPTURED,
  VOIDED: HoldStatus.VOIDED,
  EXPIRED: HoldStatus.EXPIRED,
};

export function holdToProto(h: HoldRow): Hold {
  const m = (v: bigint) => money(v, h.currency);
  return create(HoldSchema, {
    holdId: h.hold_id,
    creditLineId: h.line_id,
    parentCreditLineId: h.parent_line_id ?? "",
    driverId: h.driver_id,
    transactionId: h.transaction_id,
    status: HOLD_STATUS[h.status],
    amount: m(h.amount),
    requestedAmount: m(h.requested_amount),
    capturedAmount: m(h.captured_amount),
    releasedAmount: m(h.released_amount),
    stationId: h.station_id ?? "",
    merchantId: h.merchant_id ?? "",
    fuelType: h.fuel_type,
    expireTime: timestampFromDate(h.expire_time),
    createTime: timestampFromDate(h.create_time),
    resolveTime: h.resolve_time ? timestampFromDate(h.resolve_time) : undefined,
    journalEntryIds: h.resolve_entry_id ? [h.hold_entry_id, h.resolve_entry_id] : [h.hold_entry_id],
  });
}

export function entryToProto(e: EntryRow): JournalEntry {
  return create(JournalEntrySchema, {
    journalEntryId: e.entry_id,
    kind: e.kind,
    postings: (e.postings ?? []).map((p) => ({ creditLineId: p.line_id, account: p.account, amount: money(BigInt(p.amount), e.currency) })),
    holdId: e.hold_id ?? "",
    transactionId: e.transaction_id ?? "",
    loanId: e.loan_id ?? "",
    repaymentId: e.repayment_id ?? "",
    description: e.description,
    actorId: e.actor_id,
    createTime: timestampFromDate(e.create_time),
  });
}

export function policyToProto(r: PolicyRow): CreditPolicy {
  const limits: [RiskCategory, bigint | null][] = [
    [RiskCategory.LOW, r.max_low],
    [RiskCategory.MEDIUM, r.max_medium],
    [RiskCategory.HIGH, r.max_high],
  ];
  return create(CreditPolicySchema, {
    bankId: r.bank_id,
    currency: r.currency,
    categoryLimits: limits
      .filter(([, v]) => v !== null)
      .map(([category, v]) => create(CategoryLimitSchema, { category, maxLimit: money(v!, r.currency) })),
    version: r.version,
    updatedBy: r.updated_by,
    updateTime: timestampFromDate(r.update_time),
  });
}

export function assessmentFromRow(r: AssessmentRow): RiskAssessment {
  return fromBinary(RiskAssessmentSchema, r.body);
}
