// Registers AuthService: one file per RPC (or small group), wired here.
import type { ConnectRouter } from "@connectrpc/connect";
import { AuthService } from "../../gen/fuel/auth/v1/auth_pb.js";
import type { ServiceDeps } from "../../platform/service.js";
import { getJwks } from "./get-jwks.js";
import { SigningKeys } from "./keys.js";

export function routes(router: ConnectRouter, deps: ServiceDeps): void {
  const keys = new SigningKeys(deps.pool, deps.now);
  router.service(AuthService, {
    getJwks: getJwks(keys),
  });
}
