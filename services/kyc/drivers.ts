// GetDriver, ListDrivers, UpdateDriverProfile. A driver sees only themself, an agency
// admin the agency's members and the drivers asking to join it, bank/system admins and
// services everyone; anything else is NOT_FOUND.
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import {
  AgencyMembershipStatus,
  GetDriverResponseSchema,
  KycOverallStatus,
  ListDriversResponseSchema,
  UpdateDriverProfileResponseSchema,
  type GetDriverRequest,
  type ListDriversRequest,
  type UpdateDriverProfileRequest,
} from "../../gen/fuel/kyc/v1/kyc_pb.js";
import { failedPrecondition, invalidArgument, notFound } from "../../platform/errors.js";
import { Role } from "../../gen/fuel/common/v1/common_pb.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { callerOf, driverProfileVisible, driverScope, isSystemAdmin } from "./access.js";
import { driverToProto, membershipStatusName } from "./convert.js";
import { overallFromFacts, overallOf } from "./status.js";
import * as store from "./store.js";
import * as val from "./validation.js";

async function withKyc(deps: ServiceDeps, rows: store.DriverRow[]) {
  const overall = await overallOf(deps.pool, "driver", rows.map((r) => r.driver_id));
  return rows.map((r) => driverToProto(r, overall.get(r.driver_id)?.overall ?? KycOverallStatus.NOT_STARTED));
}

export const getDriver = (deps: ServiceDeps) => async (req: GetDriverRequest, ctx: HandlerContext) => {
  const driverId = v.uuid("driver_id", req.driverId);
  const found = await store.getDriverWithDocFacts(deps.pool, driverId);
  if (!found || !driverProfileVisible(driverScope(callerOf(ctx)), found.driver)) throw notFound("driver");
  const driver = driverToProto(found.driver, overallFromFacts("driver", found.facts).overall);
  return create(GetDriverResponseSchema, { driver });
};

export const listDrivers = (deps: ServiceDeps) => async (req: ListDriversRequest, ctx: HandlerContext) => {
  const limit = v.pageSize(req.pageSize);
  const token = v.decodePageToken(req.pageToken, ["seq"]);
  if (token && !/^\d{1,19}$/.test(token.seq)) throw invalidArgument("page_token", "is not a token from a previous response");
  let agencyId = v.optionalUuid("agency_id", req.agencyId);
  const membershipStatus = req.membershipStatus === AgencyMembershipStatus.UNSPECIFIED
    ? null
    : membershipStatusName(v.enumValue("membership_status", req.membershipStatus, AgencyMembershipStatus));
  let driverId: string | null = null;
  const scope = driverScope(callerOf(ctx));
  if (scope.kind === "none") return create(ListDriversResponseSchema, {});
  if (scope.kind === "agency") agencyId = scope.agencyId;
  if (scope.kind === "driver") driverId = scope.driverId;
  const rows = await store.listDrivers(deps.pool, { agencyId, membershipStatus, driverId, afterSeq: token ? BigInt(token.seq) : null, limit: limit + 1 });
  const page = rows.slice(0, limit);
  return create(ListDriversResponseSchema, {
    drivers: await withKyc(deps, page),
    nextPageToken: rows.length > limit ? v.encodePageToken({ seq: String(page[page.length - 1]!.seq) }) : "",
  });
};

export const updateDriverProfile = (deps: ServiceDeps) => async (req: UpdateDriverProfileRequest, ctx: HandlerContext) => {
  const driverId = v.uuid("driver_id", req.driverId);
  const patch: store.DriverPatch = {};
  if (req.fullName !== undefined) patch.fullName = val.fullName("full_name", req.fullName);
  if (req.email !== undefined) patch.email = val.optionalEmail("email", req.email);
  if (req.driverLicenseNumber !== undefined) patch.driverLicenseNumber = val.driverLicense("driver_license_number", req.driverLicenseNumber);
  if (req.vehicle !== undefined) patch.vehicle = val.vehicle("vehicle", req.vehicle);
  if (req.requestedAgencyId !== undefined) patch.requestedAgencyId = v.optionalUuid("requested_agency_id", req.requestedAgencyId);

  const c = callerOf(ctx);
  const mayEdit = isSystemAdmin(c) || (c.principal?.role === Role.DRIVER && c.principal.driverId === driverId);
  if (!mayEdit) throw notFound("driver");
  if (patch.requestedAgencyId && !(await store.agencyExists(deps.pool, patch.requestedAgencyId))) throw notFound("agency", "AGENCY_NOT_FOUND");
  const row = await store.updateDriver(deps.pool, driverId, patch, deps.now());
  if (!row) {
    // A membership request matches only a driver who is not a member yet.
    if (patch.requestedAgencyId !== undefined && (await store.getDriver(deps.pool, driverId))) {
      throw failedPrecondition("ALREADY_AGENCY_MEMBER", "a member of an agency cannot ask to join another or withdraw");
    }
    throw notFound("driver");
  }
  const [driver] = await withKyc(deps, [row]);
  return create(UpdateDriverProfileResponseSchema, { driver });
};
