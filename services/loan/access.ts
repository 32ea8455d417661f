// Object-level access to loans and products. The role check is the proto policy's (done
// by the interceptors); here: which rows a caller may see. A driver sees their own loans,
// an agency admin its drivers', a bank (admin or system) the loans it lent and its own
// products, a system admin everything. A mesh service calling without an end user sees
// everything; with an end user's token forwarded, it sees what that user sees. Anything
// else is NOT_FOUND — never a hint that the object exists.
import type { HandlerContext } from "@connectrpc/connect";
import { Role } from "../../gen/fuel/common/v1/common_pb.js";
import { callInfo } from "../../platform/context.js";
import { notFound } from "../../platform/errors.js";
import { GATEWAY_SERVICE } from "../../platform/policy.js";
import type { LoanRow } from "./store.js";

export type Scope =
  | { kind: "all" }
  | { kind: "none" }
  | { kind: "row"; column: "driver_id" | "agency_id" | "bank_id"; value: string };

export function scopeOf(ctx: HandlerContext): Scope {
  const info = callInfo(ctx);
  const p = info.principal;
  if (p) {
    switch (p.role) {
      case Role.SYSTEM_ADMIN:
        return { kind: "all" };
      case Role.DRIVER:
        return p.driverId ? { kind: "row", column: "driver_id", value: p.driverId } : { kind: "none" };
      case Role.AGENCY_ADMIN:
        return p.agencyId ? { kind: "row", column: "agency_id", value: p.agencyId } : { kind: "none" };
      case Role.BANK_ADMIN:
      case Role.BANK_SYSTEM:
        return p.bankId ? { kind: "row", column: "bank_id", value: p.bankId } : { kind: "none" };
      default:
        return { kind: "none" };
    }
  }
  if (info.callerService && info.callerService !== GATEWAY_SERVICE) return { kind: "all" };
  return { kind: "none" };
}

export function canSee(scope: Scope, loan: LoanRow): boolean {
  if (scope.kind === "all") return true;
  if (scope.kind === "none") return false;
  return loan[scope.column] === scope.value;
}

export const loanNotFound = () => notFound("loan", "LOAN_NOT_FOUND");
export const productNotFound = () => notFound("loan product", "LOAN_PRODUCT_NOT_FOUND");

/** Who recorded something: the end user, else the calling service. */
export function actorOf(ctx: HandlerContext): string {
  const info = callInfo(ctx);
  return info.principal?.subjectId || (info.callerService ? `service:${info.callerService}` : "unknown");
}
