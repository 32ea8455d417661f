// Who may call what. Each RPC declares a fuel.common.v1.MethodPolicy option in its proto;
// this module reads it from the generated descriptors, so the contract is the one place
// a method's access rule lives. A method without one is refused at runtime and fails
// the test that walks every descriptor.
import { getOption, hasOption, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { policy as policyExt, Role, type MethodPolicy } from "../gen/fuel/common/v1/common_pb.js";
import type { Principal } from "./context.js";

export function hasPolicy(method: DescMethod): boolean {
  return hasOption(method, policyExt);
}

// Reading an option decodes it from the descriptor each time; every call needs it, so
// keep one per method (descriptors live as long as the process).
const cache = new WeakMap<DescMethod, MethodPolicy>();

export function policyOf(method: DescMethod): MethodPolicy {
  const hit = cache.get(method);
  if (hit) return hit;
  if (!hasOption(method, policyExt)) {
    throw new Error(`${method.parent.typeName}/${method.name} declares no fuel.common.v1.policy`);
  }
  const p = getOption(method, policyExt);
  cache.set(method, p);
  return p;
}

/** Methods the gateway may expose: everything not marked internal. */
export function publicMethods(service: DescService): DescMethod[] {
  return service.methods.filter((m) => hasPolicy(m) && !policyOf(m).internal);
}

export const GATEWAY_SERVICE = "gateway";
/** The gateway's webhook endpoint relays signed payment callbacks under this identity. */
export const WEBHOOK_RELAY_SERVICE = "webhook-relay";

export type Decision =
  | { allow: true }
  | { allow: false; code: "UNAUTHENTICATED" | "PERMISSION_DENIED"; reason: string };

/**
 * The role check (object-level checks belong to handlers, against the database).
 * `callerService` is set when a valid mesh service token came with the call.
 */
export function decide(p: MethodPolicy, principal: Principal | null, callerService: string | null): Decision {
  // The gateway proves it is a mesh peer (so its client-IP header is trusted), but it
  // forwards outside callers and must never lend them service rights.
  const isService = callerService !== null && callerService !== GATEWAY_SERVICE;
  if (p.internal) {
    if (isService) return { allow: true };
    return { allow: false, code: "PERMISSION_DENIED", reason: "INTERNAL_METHOD" };
  }
  if (p.anonymous) return { allow: true };
  if (isService && p.roles.includes(Role.SERVICE)) return { allow: true };
  if (!principal) return { allow: false, code: "UNAUTHENTICATED", reason: "CREDENTIALS_REQUIRED" };
  if (p.roles.includes(principal.role)) return { allow: true };
  return { allow: false, code: "PERMISSION_DENIED", reason: "ROLE_NOT_ALLOWED" };
}
