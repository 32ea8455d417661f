// Rows to protobuf messages, and roles between their enum and their database names.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  MachineCredentialSchema,
  MachineKind,
  PrincipalSchema,
  UserSchema,
  type MachineCredential,
  type Principal as PrincipalMsg,
  type User,
} from "../../gen/fuel/auth/v1/auth_pb.js";
import { Role } from "../../gen/fuel/common/v1/common_pb.js";
import type { Principal } from "../../platform/context.js";
import { maskPhone } from "../../platform/validate.js";
import { roleFromName, roleName } from "../../platform/tokens.js";
import type { MachineKindName } from "./grant-rules.js";
import type { MachineRow, UserRoleName, UserRow } from "./store.js";

export function userRoleName(role: Role): UserRoleName {
  return roleName(role) as UserRoleName;
}

export function principalOfUser(u: UserRow): Principal {
  return {
    subjectId: u.user_id,
    role: roleFromName(u.role),
    agencyId: u.agency_id ?? "",
    bankId: u.bank_id ?? "",
    merchantId: u.merchant_id ?? "",
    stationId: "",
    driverId: u.driver_id ?? "",
  };
}

export function principalOfMachine(m: MachineRow): Principal {
  return {
    subjectId: m.client_id,
    role: m.kind === "POS_TERMINAL" ? Role.POS_TERMINAL : Role.BANK_SYSTEM,
    agencyId: "",
    bankId: m.bank_id ?? "",
    merchantId: m.merchant_id ?? "",
    stationId: m.station_id ?? "",
    driverId: "",
  };
}

export function principalMsg(p: Principal): PrincipalMsg {
  return create(PrincipalSchema, p);
}

export function userMsg(u: UserRow): User {
  return create(UserSchema, {
    userId: u.user_id,
    phoneMasked: maskPhone(u.phone),
    displayName: u.display_name,
    principal: principalMsg(principalOfUser(u)),
    active: u.active,
    createTime: timestampFromDate(u.create_time),
  });
}

/** A kind already checked to be set and known. */
export function machineKindName(kind: MachineKind): MachineKindName {
  return kind === MachineKind.POS_TERMINAL ? "POS_TERMINAL" : "BANK_SYSTEM";
}

/** Needs no secret hash: a list never selects it. */
export function machineMsg(m: Omit<MachineRow, "secret_hash">): MachineCredential {
  return create(MachineCredentialSchema, {
    clientId: m.client_id,
    kind: m.kind === "POS_TERMINAL" ? MachineKind.POS_TERMINAL : MachineKind.BANK_SYSTEM,
    stationId: m.station_id ?? "",
    merchantId: m.merchant_id ?? "",
    bankId: m.bank_id ?? "",
    label: m.label,
    active: m.active,
    createTime: timestampFromDate(m.create_time),
  });
}
