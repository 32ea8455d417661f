// Users: CreateUser (admins grant admin roles within their reach), GetUser / ListUsers
// (org-scoped), DisableUser, GetMe, and the internal CreateDriverUser / GetContact.
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import {
  CreateDriverUserResponseSchema,
  CreateUserResponseSchema,
  DisableUserResponseSchema,
  GetContactResponseSchema,
  GetMeResponseSchema,
  GetUserResponseSchema,
  ListUsersResponseSchema,
  type CreateDriverUserRequest,
  type CreateUserRequest,
  type DisableUserRequest,
  type GetContactRequest,
  type GetUserRequest,
  type ListUsersRequest,
} from "../../gen/fuel/auth/v1/auth_pb.js";
import { Role } from "../../gen/fuel/common/v1/common_pb.js";
import { callInfo, principalOf } from "../../platform/context.js";
import { sqlState, UNIQUE_VIOLATION, withTx } from "../../platform/db.js";
import { alreadyExists, failedPrecondition, invalidArgument, notFound, permissionDenied } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import { roleFromName } from "../../platform/tokens.js";
import * as v from "../../platform/validate.js";
import { requireOrganization } from "./bindings.js";
import { principalMsg, userMsg, userRoleName } from "./convert.js";
import { canGrant, canSeeUser, GRANTABLE_ROLES, USER_ROLES, userScope } from "./grant-rules.js";
import { sessionMsg, type Sessions } from "./session.js";
import * as store from "./store.js";

const DISPLAY_NAME_MAX = 100;
/** create_time::text as Postgres prints it, e.g. "2026-11-27 18:41:08.123+00". */
const PG_TIMESTAMP_TEXT = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2}){0,2}$/;

function bindingFor(role: Role, orgId: string): { agencyId: string | null; bankId: string | null; merchantId: string | null } {
  return {
    agencyId: role === Role.AGENCY_ADMIN ? orgId : null,
    bankId: role === Role.BANK_ADMIN ? orgId : null,
    merchantId: role === Role.MERCHANT_ADMIN ? orgId : null,
  };
}

function phoneTaken(err: unknown): boolean {
  return sqlState(err) === UNIQUE_VIOLATION && (err as { constraint?: string }).constraint === "users_phone_key";
}

export const createUser = (deps: ServiceDeps) => async (req: CreateUserRequest, ctx: HandlerContext) => {
  const caller = principalOf(ctx);
  const phone = v.phone("phone", req.phone);
  const displayName = v.text("display_name", req.displayName, 1, DISPLAY_NAME_MAX);
  const role = v.enumValue("role", req.role, Role, GRANTABLE_ROLES) as Role;
  let orgId = "";
  if (role === Role.SYSTEM_ADMIN) {
    if (req.organizationId !== "") throw invalidArgument("organization_id", "must be empty for ROLE_SYSTEM_ADMIN");
  } else {
    orgId = v.uuid("organization_id", req.organizationId);
  }
  if (!canGrant(caller, role, orgId)) {
    throw permissionDenied("ROLE_NOT_GRANTABLE", "you may create admins of your own organisation only");
  }
  // Checked after the grant rule, so a caller learns only about organisations it may bind.
  if (role !== Role.SYSTEM_ADMIN) await requireOrganization(deps, role, orgId);
  try {
    const row = await store.insertUser(deps.pool, {
      userId: randomUUID(),
      phone,
      displayName,
      role: userRoleName(role),
      ...bindingFor(role, orgId),
      driverId: null,
      createdBy: caller.subjectId,
      createTime: deps.now(),
    });
    return create(CreateUserResponseSchema, { user: userMsg(row) });
  } catch (err) {
    if (phoneTaken(err)) throw alreadyExists("PHONE_ALREADY_REGISTERED", "a user with this phone already exists");
    throw err;
  }
};

export const getUser = (deps: ServiceDeps) => async (req: GetUserRequest, ctx: HandlerContext) => {
  const caller = principalOf(ctx);
  const userId = v.uuid("user_id", req.userId);
  const row = await store.userById(deps.pool, userId);
  if (!row || !canSeeUser(caller, { agencyId: row.agency_id, bankId: row.bank_id, merchantId: row.merchant_id })) throw notFound("user");
  return create(GetUserResponseSchema, { user: userMsg(row) });
};

export const listUsers = (deps: ServiceDeps) => async (req: ListUsersRequest, ctx: HandlerContext) => {
  // A mesh service calls without a principal and sees every organisation.
  const caller = callInfo(ctx).principal;
  const limit = v.pageSize(req.pageSize);
  const token = v.decodePageToken(req.pageToken, ["t", "id"]);
  if (token && (!PG_TIMESTAMP_TEXT.test(token.t) || !/^[0-9a-f-]{36}$/.test(token.id))) {
    throw invalidArgument("page_token", "is not a token from a previous response");
  }
  const role = req.role === Role.UNSPECIFIED ? null : userRoleName(v.enumValue("role", req.role, Role, USER_ROLES) as Role);
  const agencyId = v.optionalUuid("agency_id", req.agencyId);
  const scope = caller ? userScope(caller) : null;
  if (scope === "none") return create(ListUsersResponseSchema, { users: [] });
  if (agencyId && scope && !(scope.column === "agency_id" && scope.id === agencyId)) return create(ListUsersResponseSchema, { users: [] });
  const rows = await store.listUsers(deps.pool, {
    limit: limit + 1, role, scope: scope ?? (agencyId ? { column: "agency_id", id: agencyId } : null), after: token && { createTime: token.t, userId: token.id },
  });
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return create(ListUsersResponseSchema, {
    users: page.map(userMsg),
    nextPageToken: rows.length > limit && last ? v.encodePageToken({ t: last.create_time_key, id: last.user_id }) : "",
  });
};

export const disableUser = (deps: ServiceDeps) => async (req: DisableUserRequest, ctx: HandlerContext) => {
  const caller = principalOf(ctx);
  const userId = v.uuid("user_id", req.userId);
  if (userId === caller.subjectId) throw failedPrecondition("CANNOT_DISABLE_SELF", "you cannot disable yourself");
  const row = await withTx(deps.pool, async (tx) => {
    const user = await store.disableUser(tx, userId);
    if (user) await store.revokeUserTokens(tx, userId);
    return user;
  });
  if (!row) throw notFound("user");
  return create(DisableUserResponseSchema, { user: userMsg(row) });
};

export const getMe = () => async (_req: unknown, ctx: HandlerContext) =>
  create(GetMeResponseSchema, { principal: principalMsg(principalOf(ctx)) });

export const createDriverUser = (deps: ServiceDeps, sessions: Sessions) => async (req: CreateDriverUserRequest, ctx: HandlerContext) => {
  const phone = v.phone("phone", req.phone);
  const driverId = v.uuid("driver_id", req.driverId);
  const displayName = v.text("display_name", req.displayName, 0, DISPLAY_NAME_MAX);
  const userId = randomUUID();
  const now = deps.now();
  const newUser: store.NewUser = {
    userId,
    phone,
    displayName,
    role: "DRIVER",
    // Agency membership lives with the driver's profile (KycService), decided by the agency.
    agencyId: null,
    bankId: null,
    merchantId: null,
    driverId,
    createdBy: `service:${callInfo(ctx).callerService ?? "unknown"}`,
    createTime: now,
  };
  // Sign before the transaction opens (see Sessions.prepare).
  const prepared = await sessions.prepare({
    subjectId: userId,
    role: Role.DRIVER,
    agencyId: "",
    bankId: "",
    merchantId: "",
    stationId: "",
    driverId,
  });
  try {
    await withTx(deps.pool, async (tx) => {
      await store.insertUser(tx, newUser);
      await sessions.persist(tx, prepared);
    });
  } catch (err) {
    if (sqlState(err) !== UNIQUE_VIOLATION) throw err;
    // A retry of an onboarding that already created this very user (the idempotency
    // record in Redis may be gone): same driver, same phone → a fresh session for it.
    const existing = await store.userByPhone(deps.pool, phone);
    if (existing && existing.role === "DRIVER" && existing.driver_id === driverId && existing.active) {
      return create(CreateDriverUserResponseSchema, { session: await sessions.open(existing) });
    }
    if (phoneTaken(err)) throw alreadyExists("PHONE_ALREADY_REGISTERED", "a user with this phone already exists");
    throw alreadyExists("DRIVER_ALREADY_REGISTERED", "this driver already has a user");
  }
  return create(CreateDriverUserResponseSchema, { session: sessionMsg(prepared) });
};

export const getContact = (deps: ServiceDeps) => async (req: GetContactRequest) => {
  const userId = v.uuid("user_id", req.userId);
  const row = await store.userById(deps.pool, userId);
  if (!row) throw notFound("user");
  return create(GetContactResponseSchema, { phone: row.phone, role: roleFromName(row.role) });
};

