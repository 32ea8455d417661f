// The console's screens and the roles each is for. The server enforces every call's
// policy regardless; this only decides what the navigation offers.
import { Role } from "../../gen/fuel/common/v1/common_pb.js";

export const ROLE_NAMES: Partial<Record<Role, string>> = {
  [Role.DRIVER]: "Driver",
  [Role.AGENCY_ADMIN]: "Agency admin",
  [Role.BANK_ADMIN]: "Bank credit officer",
  [Role.MERCHANT_ADMIN]: "Merchant admin",
  [Role.SYSTEM_ADMIN]: "System admin",
  [Role.POS_TERMINAL]: "POS terminal",
  [Role.BANK_SYSTEM]: "Bank system",
};

export const roleName = (r: Role) => ROLE_NAMES[r] ?? "Unknown role";

export type ScreenId = "kyc" | "credit" | "aging" | "stations" | "terminals" | "admin";

export const SCREEN_ROLES: Record<ScreenId, Role[]> = {
  kyc: [Role.BANK_ADMIN, Role.SYSTEM_ADMIN],
  credit: [Role.BANK_ADMIN, Role.SYSTEM_ADMIN],
  aging: [Role.BANK_ADMIN, Role.SYSTEM_ADMIN],
  stations: [Role.MERCHANT_ADMIN, Role.SYSTEM_ADMIN],
  terminals: [Role.MERCHANT_ADMIN, Role.SYSTEM_ADMIN],
  admin: [Role.SYSTEM_ADMIN],
};

export const SCREEN_TITLES: Record<ScreenId, string> = {
  kyc: "KYC review",
  credit: "Credit picture",
  aging: "Loan aging",
  stations: "Stations & prices",
  terminals: "Terminals",
  admin: "Administration",
};

export function screensFor(role: Role): ScreenId[] {
  return (Object.keys(SCREEN_ROLES) as ScreenId[]).filter((s) => SCREEN_ROLES[s].includes(role));
}
