// OnboardDriver (`/customer/onboard`): a phone proven by an onboarding token becomes a
// driver profile plus a DRIVER user with a first session.
//
// Two systems change, so the steps are arranged to survive a crash or retry between them:
//   1. the driver row is written PENDING_USER (keyed by the phone's blind index);
//   2. AuthService.CreateDriverUser is called with an idempotency key derived from the
//      driver id, so repeating it yields the same user and session;
//   3. the row becomes ACTIVE with the user id.
// A retry with the same phone finds the pending row, refreshes it with the new request
// and repeats 2-3. Pending rows are invisible to every read.
// A named agency is a request to join it, never a membership: the driver (and their user
// in AuthService) stays independent until the agency accepts (DecideAgencyMembership).
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { ConnectError, type HandlerContext } from "@connectrpc/connect";
import { AuthService, CreateDriverUserRequestSchema } from "../../gen/fuel/auth/v1/auth_pb.js";
import { KycOverallStatus, OnboardDriverResponseSchema, type OnboardDriverRequest } from "../../gen/fuel/kyc/v1/kyc_pb.js";
import { sqlState, UNIQUE_VIOLATION } from "../../platform/db.js";
import { alreadyExists, notFound, unauthenticated } from "../../platform/errors.js";
import { log } from "../../platform/logger.js";
import type { ServiceDeps } from "../../platform/service.js";
import { ONBOARDING_TOKEN_TYP } from "../../platform/tokens.js";
import * as v from "../../platform/validate.js";
import { driverToProto } from "./convert.js";
import { PiiCipher } from "./pii.js";
import * as store from "./store.js";
import * as val from "./validation.js";

/** The idempotency key of the CreateDriverUser hop: a pure function of the driver id. */
export function createUserIdempotencyKey(driverId: string): string {
  return `kyc-onboard-${driverId}`;
}

async function verifiedPhone(deps: ServiceDeps, token: string): Promise<string> {
  if (!token) throw unauthenticated("ONBOARDING_TOKEN_INVALID", "onboarding_token is required");
  try {
    const claims = await deps.verifier.verify(token, ONBOARDING_TOKEN_TYP);
    const phone = typeof claims.phone === "string" ? claims.phone : "";
    if (!/^\+[1-9]\d{7,14}$/.test(phone)) throw new Error("no phone claim");
    return phone;
  } catch {
    throw unauthenticated("ONBOARDING_TOKEN_INVALID", "onboarding token invalid or expired");
  }
}

export const onboardDriver = (deps: ServiceDeps, pii: PiiCipher) => async (req: OnboardDriverRequest, _ctx: HandlerContext) => {
  const phone = await verifiedPhone(deps, req.onboardingToken);
  const fullName = val.fullName("full_name", req.fullName);
  const nationalId = val.nationalId("national_id", req.nationalId);
  const license = val.driverLicense("driver_license_number", req.driverLicenseNumber);
  const vehicle = val.vehicle("vehicle", req.vehicle);
  const requestedAgencyId = v.optionalUuid("agency_id", req.agencyId);
  const email = val.optionalEmail("email", req.email);
  if (requestedAgencyId && !(await store.agencyExists(deps.pool, requestedAgencyId))) throw notFound("agency", "AGENCY_NOT_FOUND");

  const phoneIndex = pii.blindIndex("phone", phone);
  const nationalIdIndex = pii.blindIndex("national_id", nationalId);
  const existing = await store.driverByPhoneIndex(deps.pool, phoneIndex);
  if (existing && existing.status !== "PENDING_USER") {
    throw alreadyExists("PHONE_ALREADY_REGISTERED", "this phone is already registered");
  }
  const driverId = existing?.driver_id ?? randomUUID();
  const input: store.NewDriver = {
    driverId,
    fullName,
    phoneIndex,
    phoneCipher: pii.encrypt(phone, `kyc.drivers.phone:${driverId}`),
    phoneMasked: v.maskPhone(phone),
    nationalIdIndex,
    nationalIdCipher: pii.encrypt(nationalId, `kyc.drivers.national_id:${driverId}`),
    nationalIdMasked: v.maskTail(nationalId, 4),
    driverLicenseNumber: license,
    plateNumber: vehicle.plateNumber,
    fuelType: vehicle.fuelType,
    tankCapacityMl: vehicle.tankCapacityMl,
    makeModel: vehicle.makeModel,
    requestedAgencyId,
    email,
    now: deps.now(),
  };

  try {
    const row = existing ? await store.refreshPendingDriver(deps.pool, input) : await store.insertPendingDriver(deps.pool, input);
    // Activated by a concurrent attempt in the meantime.
    if (!row) throw alreadyExists("PHONE_ALREADY_REGISTERED", "this phone is already registered");
  } catch (err) {
    if (sqlState(err) === UNIQUE_VIOLATION) {
      const constraint = (err as { constraint?: string }).constraint ?? "";
      if (constraint.includes("national_id")) {
        throw alreadyExists("NATIONAL_ID_ALREADY_REGISTERED", "this national ID is already registered");
      }
      // A concurrent onboarding of the same phone won the insert.
      throw alreadyExists("PHONE_ALREADY_REGISTERED", "this phone is already registered");
    }
    throw err;
  }

  let session;
  try {
    const res = await deps.mesh.client(AuthService).createDriverUser(
      create(CreateDriverUserRequestSchema, { phone, driverId, displayName: fullName }),
      { headers: { "idempotency-key": createUserIdempotencyKey(driverId) } },
    );
    session = res.session;
  } catch (err) {
    // The row stays PENDING_USER; the client's retry repeats the call with the same key.
    log.warn({ err: ConnectError.from(err), driver_id: driverId }, "onboarding: CreateDriverUser failed");
    throw err;
  }
  const userId = session?.principal?.subjectId ?? "";
  if (!userId) throw new Error("CreateDriverUser returned no principal");
  const active = await store.activateDriver(deps.pool, driverId, userId, deps.now());
  if (!active) throw new Error("driver row vanished or is bound to another user during onboarding");
  log.info({ driver_id: driverId, user_id: userId }, "driver onboarded");
  return create(OnboardDriverResponseSchema, { driver: driverToProto(active, KycOverallStatus.NOT_STARTED), session });
};
