// Pure authorization rules of AuthService: who may grant which admin role, who may see
// which user, who may issue or revoke which machine credential.
import { Role } from "../../gen/fuel/common/v1/common_pb.js";
import type { Principal } from "../../platform/context.js";

/** Roles CreateUser can grant (drivers come from KycService.OnboardDriver). */
export const GRANTABLE_ROLES = [Role.AGENCY_ADMIN, Role.BANK_ADMIN, Role.MERCHANT_ADMIN, Role.SYSTEM_ADMIN];

/** Roles a user (a person, not a machine) can hold. */
export const USER_ROLES = [Role.DRIVER, ...GRANTABLE_ROLES];

/** The organisation id of `p` that its role is bound to ("" for SYSTEM_ADMIN). */
export function organizationOf(p: Pick<Principal, "role" | "agencyId" | "bankId" | "merchantId">): string {
  switch (p.role) {
    case Role.AGENCY_ADMIN:
      return p.agencyId;
    case Role.BANK_ADMIN:
    case Role.BANK_SYSTEM:
      return p.bankId;
    case Role.MERCHANT_ADMIN:
    case Role.POS_TERMINAL:
      return p.merchantId;
    default:
      return "";
  }
}

/**
 * SYSTEM_ADMIN grants any admin role bound to any organisation; an org admin grants only
 * its own role bound to its own organisation.
 */
export function canGrant(caller: Principal, role: Role, organizationId: string): boolean {
  if (!GRANTABLE_ROLES.includes(role)) return false;
  if (caller.role === Role.SYSTEM_ADMIN) return true;
  if (![Role.AGENCY_ADMIN, Role.BANK_ADMIN, Role.MERCHANT_ADMIN].includes(caller.role)) return false;
  const own = organizationOf(caller);
  return role === caller.role && own !== "" && organizationId === own;
}

export interface UserBinding {
  agencyId: string | null;
  bankId: string | null;
  merchantId: string | null;
}

/** Whether `caller` may see a user bound as `user`: SYSTEM_ADMIN all, admins their org. */
export function canSeeUser(caller: Principal, user: UserBinding): boolean {
  switch (caller.role) {
    case Role.SYSTEM_ADMIN:
      return true;
    case Role.AGENCY_ADMIN:
      return !!caller.agencyId && user.agencyId === caller.agencyId;
    case Role.BANK_ADMIN:
      return !!caller.bankId && user.bankId === caller.bankId;
    case Role.MERCHANT_ADMIN:
      return !!caller.merchantId && user.merchantId === caller.merchantId;
    default:
      return false;
  }
}

/** The SQL scope of ListUsers: which column must equal which id (null = everything). */
export function userScope(caller: Principal): { column: "agency_id" | "bank_id" | "merchant_id"; id: string } | null | "none" {
  switch (caller.role) {
    case Role.SYSTEM_ADMIN:
      return null;
    case Role.AGENCY_ADMIN:
      return caller.agencyId ? { column: "agency_id", id: caller.agencyId } : "none";
    case Role.BANK_ADMIN:
      return caller.bankId ? { column: "bank_id", id: caller.bankId } : "none";
    case Role.MERCHANT_ADMIN:
      return caller.merchantId ? { column: "merchant_id", id: caller.merchantId } : "none";
    default:
      return "none";
  }
}

export type MachineKindName = "POS_TERMINAL" | "BANK_SYSTEM";

export interface MachineBinding {
  kind: MachineKindName;
  merchantId: string | null;
  bankId: string | null;
}

/**
 * Whether `caller` may issue (or revoke) a machine credential bound as `m`: SYSTEM_ADMIN
 * any; a MERCHANT_ADMIN POS terminals of their merchant; a BANK_ADMIN their bank's system.
 */
export function canManageMachine(caller: Principal, m: MachineBinding): boolean {
  switch (caller.role) {
    case Role.SYSTEM_ADMIN:
      return true;
    case Role.MERCHANT_ADMIN:
      return m.kind === "POS_TERMINAL" && !!caller.merchantId && m.merchantId === caller.merchantId;
    case Role.BANK_ADMIN:
      return m.kind === "BANK_SYSTEM" && !!caller.bankId && m.bankId === caller.bankId;
    default:
      return false;
  }
}
