// Object-level access to credit lines, decided from the line rows. The role check already
// happened (the method's policy). A line the caller may not see is NOT_FOUND, never
// PERMISSION_DENIED, so ids cannot be probed.
import type { HandlerContext } from "@connectrpc/connect";
import { Role } from "../../gen/fuel/common/v1/common_pb.js";
import { callInfo } from "../../platform/context.js";
import { notFound, permissionDenied } from "../../platform/errors.js";
import { GATEWAY_SERVICE } from "../../platform/policy.js";
import type { RiskAssessment } from "../../gen/fuel/credit/v1/risk_pb.js";
import type { LineRow } from "./store.js";

export type Viewer =
  | { kind: "all"; actorId: string }
  | { kind: "bank"; bankId: string; actorId: string }
  | { kind: "agency"; agencyId: string; actorId: string }
  | { kind: "driver"; driverId: string; actorId: string }
  | { kind: "none"; actorId: string };

export function viewerOf(ctx: HandlerContext): Viewer {
  const info = callInfo(ctx);
  const p = info.principal;
  const actorId = p?.subjectId || (info.callerService ? `service:${info.callerService}` : "");
  if (info.callerService !== null && info.callerService !== GATEWAY_SERVICE) return { kind: "all", actorId };
  if (!p) return { kind: "none", actorId };
  switch (p.role) {
    case Role.SYSTEM_ADMIN:
      return { kind: "all", actorId };
    case Role.BANK_ADMIN:
    case Role.BANK_SYSTEM:
      return p.bankId ? { kind: "bank", bankId: p.bankId, actorId } : { kind: "none", actorId };
    case Role.AGENCY_ADMIN:
      return p.agencyId ? { kind: "agency", agencyId: p.agencyId, actorId } : { kind: "none", actorId };
    case Role.DRIVER:
      return p.driverId ? { kind: "driver", driverId: p.driverId, actorId } : { kind: "none", actorId };
    default:
      return { kind: "none", actorId };
  }
}

export function lineVisible(v: Viewer, l: LineRow): boolean {
  switch (v.kind) {
    case "all":
      return true;
    case "bank":
      return l.bank_id === v.bankId;
    case "agency":
      return (l.owner_kind === "AGENCY" && l.owner_id === v.agencyId) || l.parent_agency_id === v.agencyId;
    case "driver":
      return l.owner_kind === "DRIVER" && l.owner_id === v.driverId;
    case "none":
      return false;
  }
}

export const lineNotFound = () => notFound("credit line", "CREDIT_LINE_NOT_FOUND");
export const programNotFound = () => notFound("credit program", "CREDIT_PROGRAM_NOT_FOUND");

/**
 * An assessment as `v` may see it. A bank's line can rest on an assessment another bank
 * asked for (a recent one is reused); which bank that was is that bank's business.
 */
export function assessmentFor(v: Viewer, a: RiskAssessment): RiskAssessment {
  if (v.kind !== "bank" || a.requestedByBankId === "" || a.requestedByBankId === v.bankId) return a;
  return { ...a, requestedByBankId: "" };
}

/** The line if the caller may see it, else NOT_FOUND. */
export function visibleOr404(v: Viewer, l: LineRow | undefined): LineRow {
  if (!l || !lineVisible(v, l)) throw lineNotFound();
  return l;
}

/** Which admin changes a caller may make on a visible line. */
export type Change = "limit" | "sub_limit" | "controls" | "freeze" | "close";

export function mayChange(v: Viewer, l: LineRow, change: Change): boolean {
  if (v.kind === "bank") return l.bank_id === v.bankId;
  if (v.kind === "all") return change === "freeze"; // system admins (and services) freeze/unfreeze only
  if (v.kind === "agency") {
    const driverSubLine = l.parent_agency_id === v.agencyId;
    if (change === "controls") return driverSubLine || (l.owner_kind === "AGENCY" && l.owner_id === v.agencyId);
    return driverSubLine && change !== "limit";
  }
  return false;
}

export function requireChange(v: Viewer, l: LineRow, change: Change): void {
  if (!lineVisible(v, l)) throw lineNotFound();
  if (!mayChange(v, l, change)) throw permissionDenied("LINE_CHANGE_NOT_ALLOWED", `your role may not make this change (${change}) on this line`);
}
