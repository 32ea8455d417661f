// Credit lines: CreateCreditLine, GetCreditLine, ListCreditLines, UpdateCreditLimit,
// FreezeCreditLine, UnfreezeCreditLine, CloseCreditLine. Limit changes are journal
// entries (LIMIT_CHANGE) written with the counters they change; admin changes carry the
// expected version (stale → ABORTED).
import { randomUUID } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { LimitDecreasePolicy, LimitSource, SpendingControlsSchema } from "../../gen/fuel/credit/v1/credit_line_pb.js";
import {
  CloseCreditLineResponseSchema,
  CreateCreditLineResponseSchema,
  FreezeCreditLineResponseSchema,
  GetCreditLineResponseSchema,
  ListCreditLinesResponseSchema,
  UnfreezeCreditLineResponseSchema,
  UpdateCreditLimitResponseSchema,
  type CloseCreditLineRequest,
  type CreateCreditLineRequest,
  type FreezeCreditLineRequest,
  type GetCreditLineRequest,
  type ListCreditLinesRequest,
  type UnfreezeCreditLineRequest,
  type UpdateCreditLimitRequest,
} from "../../gen/fuel/credit/v1/credit_pb.js";
import { JournalEntryKind } from "../../gen/fuel/credit/v1/ledger_pb.js";
import { one, sqlState, UNIQUE_VIOLATION, withTx, type Tx } from "../../platform/db.js";
import { alreadyExists, failedPrecondition, invalidArgument, notFound, permissionDenied } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { assessmentFor, lineNotFound, programNotFound, requireChange, viewerOf, visibleOr404, type Viewer } from "./access.js";
import { guardedTx, moneyIn, priorResponse, reasonText, versionMismatch } from "./common.js";
import { hasDailyLimits, normalizeControls } from "./controls-rule.js";
import { lineStatusName, lineToProto } from "./convert.js";
import { writeMovement } from "./ledger-store.js";
import { applyDecreasePolicy, policyMaximum, rootLimit } from "./limit-rules.js";
import { limitChangePostings } from "./postings.js";
import { profileOf, runAssessment, type HistoryLimits } from "./risk.js";
import { assessmentFromRow } from "./convert.js";
import * as store from "./store.js";

const ASSESSMENT_MAX_AGE_MS = 30 * 86400_000;

const lineExists = () => alreadyExists("CREDIT_LINE_EXISTS", "the owner already has an open credit line");

export function createCreditLine(deps: ServiceDeps, history: HistoryLimits) {
  return async (req: CreateCreditLineRequest, ctx: HandlerContext) => {
    const viewer = viewerOf(ctx);
    if (req.owner.case === undefined) throw invalidArgument("owner", "agency_id or driver_id is required");
    const ownerKind = req.owner.case === "agencyId" ? "AGENCY" : "DRIVER";
    const ownerId = v.uuid(req.owner.case === "agencyId" ? "agency_id" : "driver_id", req.owner.value);
    const currency = v.currency("currency", req.currency);
    const parentId = v.optionalUuid("parent_credit_line_id", req.parentCreditLineId);
    const controls = normalizeControls(req.controls, currency);
    const controlsBytes = controls ? Buffer.from(toBinary(SpendingControlsSchema, controls)) : null;
    const now = deps.now();

    const programId = v.optionalUuid("credit_program_id", req.creditProgramId);

    if (parentId) {
      if (ownerKind !== "DRIVER") throw invalidArgument("parent_credit_line_id", "only a driver's line can draw on a parent line");
      if (programId) throw invalidArgument("credit_program_id", "is for root lines only: a sub-line is in its parent's program");
      if (req.limitOverride) throw invalidArgument("limit_override", "is for root lines only");
      const subLimit = req.subLimit ? moneyIn("sub_limit", req.subLimit, { currency, min: 1n }).amount : null;
      const prior = await priorResponse(deps, ctx, CreateCreditLineResponseSchema);
      if (prior) return prior;
      const parent = visibleOr404(viewer, await store.getLine(deps.pool, parentId));
      if (parent.owner_kind !== "AGENCY") throw invalidArgument("parent_credit_line_id", "must be an agency's line");
      if (viewer.kind !== "bank" && viewer.kind !== "agency") throw permissionDenied("LINE_CHANGE_NOT_ALLOWED", "only the bank or the agency may open sub-lines");
      if (parent.status !== "ACTIVE") throw failedPrecondition("PARENT_LINE_NOT_ACTIVE", "the parent line is not active");
      if (parent.currency !== currency) throw invalidArgument("currency", `must equal the parent line's currency ${parent.currency}`);
      if (subLimit !== null && subLimit > parent.limit_minor) throw failedPrecondition("SUB_LIMIT_ABOVE_PARENT", "sub_limit is above the parent line's limit");
      // Membership first: whether a driver of another agency has a line is not this
      // agency's to learn. An agency admin sees only its own drivers, so another agency's
      // is NOT_FOUND like one that does not exist; a bank sees every driver and is told why.
      const profile = await profileOf(deps, { kind: "DRIVER", id: ownerId });
      if (profile.agencyId !== parent.owner_id) {
        if (viewer.kind === "agency") throw notFound("driver");
        throw failedPrecondition("DRIVER_NOT_IN_AGENCY", "the driver is not a member of the parent line's agency");
      }
      if (!profile.kycVerified) throw failedPrecondition("KYC_NOT_VERIFIED", "the driver's KYC is not verified");
      if (await store.openLineOf(deps.pool, "DRIVER", ownerId)) throw lineExists();
      return await uniqueLine(() =>
        guardedTx(deps, ctx, CreateCreditLineResponseSchema, async (tx) => {
          const locked = (await store.lockLines(tx, [parent.line_id])).get(parent.line_id)!;
          if (locked.status !== "ACTIVE") throw failedPrecondition("PARENT_LINE_NOT_ACTIVE", "the parent line is not active");
          if (subLimit !== null && subLimit > locked.limit_minor) throw failedPrecondition("SUB_LIMIT_ABOVE_PARENT", "sub_limit is above the parent line's limit");
          const limit = subLimit ?? locked.limit_minor;
          const line = await store.insertLine(tx, {
            line_id: randomUUID(), bank_id: locked.bank_id, owner_kind: "DRIVER", owner_id: ownerId, parent_id: locked.line_id,
            parent_agency_id: locked.owner_id, program_id: locked.program_id, currency, status: "ACTIVE", limit_minor: 0n, sub_limit: subLimit,
            limit_source: subLimit === null ? LimitSource.PARENT : LimitSource.SUB_LIMIT, risk_assessment_id: null, risk_category: 0,
            override_reason: "", controls: controlsBytes, daily_controls: hasDailyLimits(controls), create_time: now,
          });
          const saved = await openingEntry(tx, line, limit, viewer, now);
          return create(CreateCreditLineResponseSchema, { creditLine: lineToProto(saved) });
        }),
      );
    }

    if (req.subLimit) throw invalidArgument("sub_limit", "is for sub-lines only");
    const override = req.limitOverride ? moneyIn("limit_override", req.limitOverride, { currency, min: 1n }).amount : null;
    const overrideReason = override !== null ? reasonText("override_reason", req.overrideReason) : "";
    if (override === null && req.overrideReason !== "") throw invalidArgument("override_reason", "is only accepted with limit_override");
    if (viewer.kind !== "bank") throw permissionDenied("ROOT_LINE_BANK_ONLY", "only a bank opens root credit lines");
    const prior = await priorResponse(deps, ctx, CreateCreditLineResponseSchema);
    if (prior) return prior;
    if (programId) await programToJoin(deps, viewer.bankId, programId, currency);
    const policy = await store.getPolicy(deps.pool, viewer.bankId, currency);
    if (!policy) throw failedPrecondition("CREDIT_POLICY_NOT_FOUND", `the bank has no credit policy for ${currency}`);
    if (await store.openLineOf(deps.pool, ownerKind, ownerId)) throw lineExists();
    const subject = { kind: ownerKind, id: ownerId } as const;
    const profile = await profileOf(deps, subject);
    if (!profile.kycVerified) throw failedPrecondition("KYC_NOT_VERIFIED", `the ${ownerKind.toLowerCase()}'s KYC is not verified`);
    const recent = await store.latestAssessment(deps.pool, ownerKind, ownerId, new Date(now.getTime() - ASSESSMENT_MAX_AGE_MS));
    const assessment = recent ? assessmentFromRow(recent) : await runAssessment(deps, history, subject, null, profile);
    const { limit, source } = rootLimit({ low: policy.max_low, medium: policy.max_medium, high: policy.max_high }, assessment.category, override);
    return await uniqueLine(() =>
      guardedTx(deps, ctx, CreateCreditLineResponseSchema, async (tx) => {
        const line = await store.insertLine(tx, {
          line_id: randomUUID(), bank_id: viewer.bankId, owner_kind: ownerKind, owner_id: ownerId, parent_id: null, parent_agency_id: null,
          program_id: programId, currency, status: "ACTIVE", limit_minor: 0n, sub_limit: null, limit_source: source, risk_assessment_id: assessment.riskAssessmentId,
          risk_category: assessment.category, override_reason: overrideReason, controls: controlsBytes, daily_controls: hasDailyLimits(controls),
          create_time: now,
        });
        const saved = await openingEntry(tx, line, limit, viewer, now, overrideReason);
        return create(CreateCreditLineResponseSchema, { creditLine: lineToProto(saved), assessment: assessmentFor(viewer, assessment) });
      }),
    );
  };
}

/**
 * The program a new root line may lend under: the bank's own (another bank's reads as
 * missing), ACTIVE, in the line's currency. A program that closes right after this check
 * takes the line in anyway; its holds are then declined as the program's are.
 */
async function programToJoin(deps: ServiceDeps, bankId: string, programId: string, currency: string): Promise<void> {
  const p = await store.getProgramLine(deps.pool, programId);
  if (!p || p.bank_id !== bankId) throw programNotFound();
  if (p.status !== "ACTIVE") throw failedPrecondition("PROGRAM_CLOSED", "the credit program is closed to new lines");
  if (p.currency !== currency) throw invalidArgument("currency", `must equal the credit program's currency ${p.currency}`);
}

async function uniqueLine<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (sqlState(err) === UNIQUE_VIOLATION) throw lineExists();
    throw err;
  }
}

async function openingEntry(tx: Tx, line: store.LineRow, limit: bigint, viewer: Viewer, now: Date, reason = ""): Promise<store.LineRow> {
  if (limit === 0n) return line;
  const changed = await writeMovement(tx, [{
    entryId: randomUUID(), kind: JournalEntryKind.LIMIT_CHANGE, currency: line.currency,
    description: reason ? `line opened, limit override: ${reason}` : "line opened", actorId: viewer.actorId,
    postings: limitChangePostings([line.line_id], limit),
  }], now);
  return changed.get(line.line_id)!;
}

export function getCreditLine(deps: ServiceDeps) {
  return async (req: GetCreditLineRequest, ctx: HandlerContext) => {
    const id = v.uuid("credit_line_id", req.creditLineId);
    const line = visibleOr404(viewerOf(ctx), await store.getLine(deps.pool, id));
    return create(GetCreditLineResponseSchema, { creditLine: lineToProto(line) });
  };
}

export function listCreditLines(deps: ServiceDeps) {
  return async (req: ListCreditLinesRequest, ctx: HandlerContext) => {
    const viewer = viewerOf(ctx);
    const limit = v.pageSize(req.pageSize);
    const statuses = req.statuses.map((s) => {
      const n = lineStatusName(s);
      if (!n) throw invalidArgument("statuses", "contains an unknown status");
      return n;
    });
    const filter: store.LineFilter = {
      bankId: v.optionalUuid("bank_id", req.bankId) ?? undefined,
      agencyId: v.optionalUuid("agency_id", req.agencyId) ?? undefined,
      includeSubLines: req.includeSubLines,
      driverId: v.optionalUuid("driver_id", req.driverId) ?? undefined,
      parentId: v.optionalUuid("parent_credit_line_id", req.parentCreditLineId) ?? undefined,
      statuses,
      limit,
    };
    const token = v.decodePageToken(req.pageToken, ["t", "id"]);
    if (token) {
      const time = new Date(token.t);
      if (Number.isNaN(time.getTime())) throw invalidArgument("page_token", "is not a token from a previous response");
      filter.after = { time, id: v.uuid("page_token", token.id) };
    }
    if (viewer.kind === "bank") filter.scopeBankId = viewer.bankId;
    else if (viewer.kind === "agency") filter.scopeAgencyId = viewer.agencyId;
    else if (viewer.kind === "driver") filter.scopeDriverId = viewer.driverId;
    else if (viewer.kind === "none") return create(ListCreditLinesResponseSchema, {});
    const rows = await store.listLines(deps.pool, filter);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return create(ListCreditLinesResponseSchema, {
      creditLines: page.map(lineToProto),
      nextPageToken: rows.length > limit && last ? v.encodePageToken({ t: last.create_time.toISOString(), id: last.line_id }) : "",
    });
  };
}

export function updateCreditLimit(deps: ServiceDeps) {
  return async (req: UpdateCreditLimitRequest, ctx: HandlerContext) => {
    const viewer = viewerOf(ctx);
    const id = v.uuid("credit_line_id", req.creditLineId);
    const reason = reasonText("reason", req.reason);
    if (req.removeSubLimit && req.limit) throw invalidArgument("limit", "must be unset with remove_sub_limit");
    if (!req.removeSubLimit && !req.limit) throw invalidArgument("limit", "is required");
    const decrease = req.decreasePolicy;
    if (!(decrease in LimitDecreasePolicy)) throw invalidArgument("decrease_policy", "is not an accepted value");
    const line = await store.getLine(deps.pool, id);
    if (!line) throw lineNotFound();
    requireChange(viewer, line, line.parent_id ? "sub_limit" : "limit");
    if (req.removeSubLimit && !line.parent_id) throw invalidArgument("remove_sub_limit", "is for sub-lines only");
    const requested = req.limit ? moneyIn("limit", req.limit, { currency: line.currency, min: 0n }).amount : null;
    const now = deps.now();

    let policyMax: bigint | null = null;
    if (!line.parent_id) {
      const policy = await store.getPolicy(deps.pool, line.bank_id, line.currency);
      if (!policy) throw failedPrecondition("CREDIT_POLICY_NOT_FOUND", `the bank has no credit policy for ${line.currency}`);
      policyMax = policyMaximum({ low: policy.max_low, medium: policy.max_medium, high: policy.max_high }, line.risk_category);
      if (requested! > policyMax) {
        throw failedPrecondition("LIMIT_ABOVE_POLICY", `limit is above the policy maximum ${policyMax}`, { policy_maximum: policyMax.toString() });
      }
    }

    return await guardedTx(deps, ctx, UpdateCreditLimitResponseSchema, async (tx) => {
      let lineIds: string[];
      let settings: Record<string, unknown>;
      let applied: bigint;
      let cur: store.LineRow;
      if (!line.parent_id) {
        const mirrors = (await store.subLinesOf(tx, line.line_id, true)).filter((s) => s.sub_limit === null).map((s) => s.line_id);
        const locked = await store.lockLines(tx, [line.line_id, ...mirrors]);
        cur = locked.get(line.line_id)!;
        checkEditable(cur, req.expectedVersion);
        applied = applyDecreasePolicy(requested!, cur.held + cur.used, decrease);
        // Sub-lines without a sub-limit mirror the parent's limit, so they move with it.
        lineIds = [line.line_id, ...mirrors.filter((m) => locked.get(m)?.sub_limit === null && locked.get(m)?.status !== "CLOSED")];
        settings = { limit_source: applied === policyMax ? LimitSource.POLICY : LimitSource.OVERRIDE, override_reason: reason };
      } else {
        const locked = await store.lockLines(tx, [line.parent_id, line.line_id]);
        const parent = locked.get(line.parent_id)!;
        cur = locked.get(line.line_id)!;
        checkEditable(cur, req.expectedVersion);
        if (requested !== null && requested > parent.limit_minor) throw failedPrecondition("SUB_LIMIT_ABOVE_PARENT", "sub-limit is above the parent line's limit");
        applied = applyDecreasePolicy(requested ?? parent.limit_minor, cur.held + cur.used, decrease);
        lineIds = [line.line_id];
        settings = requested === null
          ? { sub_limit: null, limit_source: LimitSource.PARENT }
          : { sub_limit: applied, limit_source: LimitSource.SUB_LIMIT };
      }
      const delta = applied - cur.limit_minor;
      if (delta !== 0n) {
        await writeMovement(tx, [{
          entryId: randomUUID(), kind: JournalEntryKind.LIMIT_CHANGE, currency: cur.currency,
          description: `limit ${cur.limit_minor} → ${applied}: ${reason}`, actorId: viewer.actorId,
          postings: limitChangePostings(lineIds, delta),
        }], now);
      }
      const keys = Object.keys(settings);
      const updated = await one<store.LineRow>(
        tx,
        `UPDATE credit.lines SET ${keys.map((k, i) => `${k} = $${i + 3}`).join(", ")}, update_time = $2
           ${delta === 0n ? ", version = version + 1" : ""}
          WHERE line_id = $1 RETURNING ${store.LINE_COLS}`,
        [line.line_id, now, ...keys.map((k) => settings[k])],
      );
      return create(UpdateCreditLimitResponseSchema, { creditLine: lineToProto(updated!) });
    });
  };
}

function checkEditable(cur: store.LineRow, expected: bigint): void {
  if (cur.version !== expected) throw versionMismatch(cur.version);
  if (cur.status === "CLOSED") throw failedPrecondition("CREDIT_LINE_CLOSED", "the line is closed");
}

/** Locks one line, checks its version, and applies `change` (settings only, no money). */
async function adminChange(
  deps: ServiceDeps,
  lineId: string,
  expected: bigint,
  check: (cur: store.LineRow) => void,
  set: Record<string, unknown>,
): Promise<store.LineRow> {
  return await withTx(deps.pool, async (tx) => {
    const cur = (await store.lockLines(tx, [lineId])).get(lineId);
    if (!cur) throw lineNotFound();
    if (cur.version !== expected) throw versionMismatch(cur.version);
    check(cur);
    return (await store.updateLineIfVersion(tx, lineId, expected, set, deps.now()))!;
  });
}

async function editable(deps: ServiceDeps, ctx: HandlerContext, rawId: string, change: "freeze" | "close") {
  const viewer = viewerOf(ctx);
  const id = v.uuid("credit_line_id", rawId);
  const line = await store.getLine(deps.pool, id);
  if (!line) throw lineNotFound();
  requireChange(viewer, line, change);
  return { viewer, line };
}

export function freezeCreditLine(deps: ServiceDeps) {
  return async (req: FreezeCreditLineRequest, ctx: HandlerContext) => {
    const reason = reasonText("reason", req.reason);
    const { viewer, line } = await editable(deps, ctx, req.creditLineId, "freeze");
    const saved = await adminChange(deps, line.line_id, req.expectedVersion, (cur) => {
      if (cur.status !== "ACTIVE") throw failedPrecondition("CREDIT_LINE_NOT_ACTIVE", "only an ACTIVE line can be frozen");
    }, { status: "FROZEN", status_reason: reason, frozen_by: viewer.kind === "agency" ? "AGENCY" : "BANK" });
    return create(FreezeCreditLineResponseSchema, { creditLine: lineToProto(saved) });
  };
}

export function unfreezeCreditLine(deps: ServiceDeps) {
  return async (req: UnfreezeCreditLineRequest, ctx: HandlerContext) => {
    reasonText("reason", req.reason);
    const { viewer, line } = await editable(deps, ctx, req.creditLineId, "freeze");
    const saved = await adminChange(deps, line.line_id, req.expectedVersion, (cur) => {
      if (cur.status !== "FROZEN") throw failedPrecondition("CREDIT_LINE_NOT_FROZEN", "the line is not frozen");
      if (cur.frozen_by === "BANK" && viewer.kind === "agency") {
        throw failedPrecondition("FROZEN_BY_HIGHER_AUTHORITY", "the line was frozen by its bank or a system admin");
      }
    }, { status: "ACTIVE", status_reason: "", frozen_by: null });
    return create(UnfreezeCreditLineResponseSchema, { creditLine: lineToProto(saved) });
  };
}

export function closeCreditLine(deps: ServiceDeps) {
  return async (req: CloseCreditLineRequest, ctx: HandlerContext) => {
    const reason = reasonText("reason", req.reason);
    const { line } = await editable(deps, ctx, req.creditLineId, "close");
    const now = deps.now();
    const saved = await withTx(deps.pool, async (tx) => {
      const cur = (await store.lockLines(tx, [line.line_id])).get(line.line_id)!;
      if (cur.version !== req.expectedVersion) throw versionMismatch(cur.version);
      if (cur.status === "CLOSED") throw failedPrecondition("CREDIT_LINE_CLOSED", "the line is already closed");
      const pending = await one(tx, `SELECT 1 FROM credit.holds WHERE (line_id = $1 OR parent_line_id = $1) AND status = 'PENDING' LIMIT 1`, [cur.line_id]);
      if (pending) throw failedPrecondition("HOLDS_PENDING", "the line has pending holds; capture or void them first");
      const subs = await one(tx, `SELECT 1 FROM credit.lines WHERE parent_id = $1 AND status <> 'CLOSED' LIMIT 1`, [cur.line_id]);
      if (subs) throw failedPrecondition("SUB_LINES_OPEN", "close the drivers' sub-lines first");
      return (await store.updateLineIfVersion(tx, cur.line_id, cur.version, { status: "CLOSED", status_reason: reason, frozen_by: null, close_time: now }, now))!;
    });
    return create(CloseCreditLineResponseSchema, { creditLine: lineToProto(saved) });
  };
}

