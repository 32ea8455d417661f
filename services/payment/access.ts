// Object-level access to payments. The role check already happened (the method's
// policy); this maps the caller to the rows they may see. A payment the caller may not
// see is NOT_FOUND, so ids cannot be probed.
//   DRIVER        payments they made
//   AGENCY_ADMIN  payments its agency made, and payments of loans of its drivers
//   BANK_*        payments repaying the bank's loans (only those allocations are shown)
//   SYSTEM_ADMIN  everything
import type { HandlerContext } from "@connectrpc/connect";
import { Role } from "../../gen/fuel/common/v1/common_pb.js";
import { callInfo } from "../../platform/context.js";
import type { Visibility } from "./store.js";

export function visibilityOf(ctx: HandlerContext): Visibility {
  const p = callInfo(ctx).principal;
  if (!p) return { kind: "none" };
  switch (p.role) {
    case Role.SYSTEM_ADMIN:
      return { kind: "all" };
    case Role.DRIVER:
      return p.driverId ? { kind: "driver", driverId: p.driverId } : { kind: "none" };
    case Role.AGENCY_ADMIN:
      return p.agencyId ? { kind: "agency", agencyId: p.agencyId } : { kind: "none" };
    case Role.BANK_ADMIN:
    case Role.BANK_SYSTEM:
      return p.bankId ? { kind: "bank", bankId: p.bankId } : { kind: "none" };
    default:
      return { kind: "none" };
  }
}

/** The bank whose allocations alone are shown, for bank callers. */
export function bankFilter(v: Visibility): string | undefined {
  return v.kind === "bank" ? v.bankId : undefined;
}
