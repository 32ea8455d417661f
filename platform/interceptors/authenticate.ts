// Authentication and the per-method policy. Reads the end user's access token
// (`authorization: Bearer`) and, on mesh hops, the calling service's token
// (`x-fuel-service-token`); builds the call info every handler reads; then applies the
// method's declared policy. Health and reflection are open to all (Kubernetes probes,
// grpcurl).
import { setMaxListeners } from "node:events";
import { Code, type Interceptor } from "@connectrpc/connect";
import { trace } from "@opentelemetry/api";
import { type MethodPolicy } from "../../gen/fuel/common/v1/common_pb.js";
import { callInfoKey, clientIpKey, currentCall, type CallInfo, type Principal } from "../context.js";
import { rpcError, unauthenticated } from "../errors.js";
import { decide, policyOf } from "../policy.js";
import { principalFromClaims, type AccessTokenVerifier, type ServiceTokens } from "../tokens.js";
import { deadlineFromHeaders } from "./deadline.js";

export const SERVICE_TOKEN_HEADER = "x-fuel-service-token";
export const CLIENT_IP_HEADER = "x-fuel-client-ip";
/** The longest a streaming call (a watch) may stay open; clients reconnect after it. */
export const STREAM_MAX_MS = 30 * 60_000;

const OPEN: MethodPolicy = { anonymous: true, roles: [], internal: false, mutating: false, movesMoney: false } as unknown as MethodPolicy;

export interface AuthenticateOptions {
  verifier: AccessTokenVerifier;
  serviceTokens: ServiceTokens;
  defaultDeadlineMs: number;
  maxDeadlineMs: number;
}

export function methodPolicy(method: { parent: { typeName: string } } & Parameters<typeof policyOf>[0]): MethodPolicy {
  return method.parent.typeName.startsWith("grpc.") ? OPEN : policyOf(method);
}

export function authenticate(opts: AuthenticateOptions): Interceptor {
  return (next) => async (req) => {
    const policy = methodPolicy(req.method);
    const bearer = parseBearer(req.header.get("authorization"));
    const svcToken = req.header.get(SERVICE_TOKEN_HEADER);

    const callerService = svcToken ? await opts.serviceTokens.verify(svcToken) : null;
    let principal: Principal | null = null;
    if (bearer) {
      try {
        principal = principalFromClaims(await opts.verifier.verify(bearer));
      } catch (err) {
        // A stale token on an anonymous method (login, refresh) is simply ignored.
        if (!policy.anonymous) throw err;
      }
    }

    const decision = decide(policy, principal, callerService);
    if (!decision.allow) {
      throw decision.code === "UNAUTHENTICATED"
        ? unauthenticated(decision.reason)
        : rpcError(Code.PermissionDenied, decision.reason, `not allowed to call ${req.method.name}`);
    }

    // Only a mesh peer may tell us the end client's address; otherwise it is the socket's.
    const socketIp = req.contextValues.get(clientIpKey);
    const clientIp = (callerService && req.header.get(CLIENT_IP_HEADER)) || socketIp;
    const info: CallInfo = {
      traceId: trace.getActiveSpan()?.spanContext().traceId ?? "",
      principal,
      accessToken: principal ? bearer : null,
      callerService,
      clientIp,
      // Streams (watches) live longer than unary calls, but are still bounded.
      deadlineAt: Date.now() + (req.stream
        ? deadlineFromHeaders(req.header, STREAM_MAX_MS, STREAM_MAX_MS)
        : deadlineFromHeaders(req.header, opts.defaultDeadlineMs, opts.maxDeadlineMs)),
      signal: req.signal,
    };
    // Each mesh hop listens on this signal; a handler fanning out to many hops is normal.
    setMaxListeners(256, req.signal);
    req.contextValues.set(callInfoKey, info);
    const res = await currentCall.run(info, () => next(req));
    // A stream's body runs after this function returns: keep the call info around it.
    return res.stream ? { ...res, message: bindIterable(res.message, (fn) => currentCall.run(info, fn)) } : res;
  };
}

/** Runs every step of an async iterable inside `within` (an AsyncLocalStorage scope). */
export function bindIterable<T>(source: AsyncIterable<T>, within: <R>(fn: () => R) => R): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const it = within(() => source[Symbol.asyncIterator]());
      return {
        next: () => within(() => it.next()),
        return: (v?: unknown) => within(() => it.return?.(v) ?? Promise.resolve({ done: true as const, value: v as T })),
        throw: (e?: unknown) => within(() => it.throw?.(e) ?? Promise.reject(e)),
      };
    },
  };
}

function parseBearer(header: string | null): string | null {
  if (!header) return null;
  const m = /^Bearer\s+([A-Za-z0-9\-_.~+/]+=*)$/i.exec(header.trim());
  if (!m) throw unauthenticated("TOKEN_INVALID", "authorization header must be `Bearer <token>`");
  return m[1]!;
}
