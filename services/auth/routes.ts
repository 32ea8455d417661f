// Registers AuthService: one file per RPC (or small group), wired here.
//   otp.ts        RequestOtp, VerifyOtp, CustomerRequestOtp, CustomerVerifyOtp
//   session.ts    RefreshSession, RevokeSession (and session issuance)
//   users.ts      CreateUser, GetUser, ListUsers, DisableUser, GetMe, CreateDriverUser, GetContact
//   machines.ts   CreateMachineCredential, RevokeMachineCredential, ExchangeClientCredentials
//   list-machine-credentials.ts   ListMachineCredentials
//   get-jwks.ts   GetJwks
// Pure rules: otp-code.ts, refresh-rule.ts, grant-rules.ts, machine-list-rule.ts. SQL: store.ts.
import type { ConnectRouter } from "@connectrpc/connect";
import { AuthService } from "../../gen/fuel/auth/v1/auth_pb.js";
import type { AuthContext } from "./context.js";
import { getJwks } from "./get-jwks.js";
import { listMachineCredentials } from "./list-machine-credentials.js";
import { createMachineCredential, exchangeClientCredentials, revokeMachineCredential } from "./machines.js";
import { customerRequestOtp, customerVerifyOtp, requestOtp, verifyOtp } from "./otp.js";
import { refreshSession, revokeSession } from "./session.js";
import { createDriverUser, createUser, disableUser, getContact, getMe, getUser, listUsers } from "./users.js";

export function routes(router: ConnectRouter, deps: AuthContext): void {
  const { keys, sessions, login } = deps;
  router.service(AuthService, {
    requestOtp: requestOtp(login),
    verifyOtp: verifyOtp(login, sessions),
    customerRequestOtp: customerRequestOtp(login),
    customerVerifyOtp: customerVerifyOtp(login, sessions),
    refreshSession: refreshSession(sessions),
    revokeSession: revokeSession(sessions),
    exchangeClientCredentials: exchangeClientCredentials(deps, sessions),
    getJwks: getJwks(keys),
    getMe: getMe(),
    createUser: createUser(deps),
    getUser: getUser(deps),
    listUsers: listUsers(deps),
    disableUser: disableUser(deps),
    createMachineCredential: createMachineCredential(deps),
    revokeMachineCredential: revokeMachineCredential(deps),
    listMachineCredentials: listMachineCredentials(deps),
    createDriverUser: createDriverUser(deps, sessions),
    getContact: getContact(deps),
  });
}
