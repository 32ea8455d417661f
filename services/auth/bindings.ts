// What a new credential or staff user is bound to must exist, and its parts must belong
// together: a POS terminal's station must be a station of the merchant it names; a bank
// system's bank, an admin's agency, bank or merchant must exist. AuthService owns none of
// these, so it asks their owners over the mesh as a service (StationService, KycService).
// A station of another merchant answers exactly as a station that does not exist, so the
// check cannot be used to learn which merchant runs which station.
import { Code, ConnectError } from "@connectrpc/connect";
import { Role } from "../../gen/fuel/common/v1/common_pb.js";
import { KycService } from "../../gen/fuel/kyc/v1/kyc_pb.js";
import { StationService } from "../../gen/fuel/station/v1/station_pb.js";
import { notFound, rpcError } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";

export const stationNotFound = () => notFound("station", "STATION_NOT_FOUND");
export const organizationNotFound = () => notFound("organization", "ORGANIZATION_NOT_FOUND");

/** NOT_FOUND from the owner is the answer `missing`; anything else is a hop that failed. */
async function ask<T>(what: string, call: () => Promise<T>, missing: () => ConnectError): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const ce = ConnectError.from(err);
    if (ce.code === Code.NotFound) throw missing();
    throw rpcError(Code.Unavailable, "DEPENDENCY_UNAVAILABLE", `${what} is unavailable (${Code[ce.code]}); retry with the same idempotency-key`);
  }
}

/** Passes when `stationId` is a station of `merchantId`; else NOT_FOUND (station). */
export async function requireStationOfMerchant(deps: ServiceDeps, stationId: string, merchantId: string): Promise<void> {
  const res = await ask("StationService", () => deps.mesh.client(StationService).getStation({ stationId }), stationNotFound);
  if (res.station?.merchantId.toLowerCase() !== merchantId) throw stationNotFound();
}

/** Passes when the organisation an admin role (or bank system) is bound to exists; else NOT_FOUND. */
export async function requireOrganization(deps: ServiceDeps, role: Role, organizationId: string): Promise<void> {
  const kyc = deps.mesh.client(KycService);
  switch (role) {
    case Role.AGENCY_ADMIN:
      await ask("KycService", () => kyc.getAgency({ agencyId: organizationId }), organizationNotFound);
      return;
    case Role.BANK_ADMIN:
    case Role.BANK_SYSTEM:
      await ask("KycService", () => kyc.getBank({ bankId: organizationId }), organizationNotFound);
      return;
    case Role.MERCHANT_ADMIN:
    case Role.POS_TERMINAL:
      await ask("KycService", () => kyc.getMerchant({ merchantId: organizationId }), organizationNotFound);
      return;
    default:
      throw new Error(`role ${Role[role]} is bound to no organisation`);
  }
}
