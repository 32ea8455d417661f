// Object-level access: who may see or act for which driver, agency and document. The
// role check already happened (the method's policy); this decides, from the rows, whether
// this caller may touch this object. Anything not visible is reported as NOT_FOUND, so
// ids of other people's objects cannot be probed.
import type { HandlerContext } from "@connectrpc/connect";
import { Role } from "../../gen/fuel/common/v1/common_pb.js";
import { callInfo, type Principal } from "../../platform/context.js";
import { GATEWAY_SERVICE } from "../../platform/policy.js";

export interface Caller {
  principal: Principal | null;
  /** Another mesh service (not the gateway) calling with its service token. */
  isService: boolean;
}

export function callerOf(ctx: HandlerContext): Caller {
  const info = callInfo(ctx);
  return { principal: info.principal, isService: info.callerService !== null && info.callerService !== GATEWAY_SERVICE };
}

/** The user id to record as the actor (who uploaded, who reviewed). */
export function actorId(c: Caller): string {
  return c.principal?.subjectId ?? "service";
}

export type DriverScope =
  | { kind: "all" }
  | { kind: "driver"; driverId: string }
  | { kind: "agency"; agencyId: string }
  | { kind: "none" };

const SEE_ALL_DRIVERS = new Set<Role>([Role.BANK_ADMIN, Role.BANK_SYSTEM, Role.SYSTEM_ADMIN]);

/** Which drivers a caller may read. */
export function driverScope(c: Caller): DriverScope {
  if (c.isService) return { kind: "all" };
  const p = c.principal;
  if (!p) return { kind: "none" };
  if (SEE_ALL_DRIVERS.has(p.role)) return { kind: "all" };
  if (p.role === Role.DRIVER && p.driverId) return { kind: "driver", driverId: p.driverId };
  if (p.role === Role.AGENCY_ADMIN && p.agencyId) return { kind: "agency", agencyId: p.agencyId };
  return { kind: "none" };
}

/**
 * Whether the caller may act on the driver's KYC (documents, status): the driver, the
 * agency the driver is a member of, reviewers. A request to join grants the agency
 * nothing here.
 */
export function driverVisible(scope: DriverScope, row: { driver_id: string; agency_id: string | null }): boolean {
  switch (scope.kind) {
    case "all":
      return true;
    case "driver":
      return row.driver_id === scope.driverId;
    case "agency":
      return row.agency_id === scope.agencyId;
    case "none":
      return false;
  }
}

/**
 * Whether the caller may read the driver's profile: everyone driverVisible admits, and an
 * agency admin the drivers whose latest request to join names the agency, so the agency
 * can decide on them.
 */
export function driverProfileVisible(scope: DriverScope, row: { driver_id: string; agency_id: string | null; membership_agency_id: string | null }): boolean {
  if (scope.kind === "agency" && row.membership_agency_id === scope.agencyId) return true;
  return driverVisible(scope, row);
}

/** Who may decide on requests to join an agency: its own admin, or a system admin. */
export function mayDecideForAgency(c: Caller, agencyId: string): boolean {
  return isSystemAdmin(c) || isAgencyAdminOf(c, agencyId);
}

/** Whether the caller may read an agency's profile and its own KYC documents. */
export function agencyVisible(c: Caller, agencyId: string): boolean {
  if (c.isService) return true;
  const p = c.principal;
  if (!p) return false;
  if (SEE_ALL_DRIVERS.has(p.role)) return true;
  return p.role === Role.AGENCY_ADMIN && p.agencyId === agencyId;
}

/** Who may upload for a driver: the driver themself, or their agency's admin. */
export function mayUploadForDriver(c: Caller, row: { driver_id: string; agency_id: string | null }): boolean {
  const p = c.principal;
  if (!p) return false;
  if (p.role === Role.DRIVER) return p.driverId === row.driver_id;
  if (p.role === Role.AGENCY_ADMIN) return !!p.agencyId && p.agencyId === row.agency_id;
  return false;
}

/** Who may upload for (or update) an agency: its own admin. */
export function isAgencyAdminOf(c: Caller, agencyId: string): boolean {
  const p = c.principal;
  return !!p && p.role === Role.AGENCY_ADMIN && p.agencyId === agencyId;
}

export function isSystemAdmin(c: Caller): boolean {
  return c.principal?.role === Role.SYSTEM_ADMIN;
}
