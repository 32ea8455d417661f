// Per-caller rate limit where a public request enters the system: a budget per
// authenticated subject, or per client IP for anonymous calls. The gateway spends it in
// its own chain for calls it forwards; for a call it hands straight to a service in this
// process (gateway/local-edge.ts), that service's chain spends it — the call is marked as
// having entered at the edge — so a caller's budget is spent once either way, and a mesh
// hop inside the system never spends it.
//
// A call waits for its budget before it runs, except a signed-in caller's read (a method
// neither mutating nor anonymous): its budget check (a Redis round trip) runs beside the
// read, and a read over budget is refused when the check answers, its work cancelled with
// the call. Reads are most of what phones send, and the round trip was on every one of
// them. Anonymous methods always wait: OTP requests and checks, logins and token
// exchanges are not marked mutating but send messages and guess secrets, and the budget
// is what stands in front of them.
import type { Interceptor } from "@connectrpc/connect";
import { atEdgeKey, callInfoKey } from "../context.js";
import type { RateLimits } from "../ratelimit.js";
import { methodPolicy } from "./authenticate.js";

export function rateLimit(limits: RateLimits, perMinute: number, opts: { onlyAtEdge?: boolean } = {}): Interceptor {
  return (next) => async (req) => {
    if (opts.onlyAtEdge && !req.contextValues.get(atEdgeKey)) return await next(req);
    if (req.service.typeName.startsWith("grpc.")) return await next(req); // probes
    const info = req.contextValues.get(callInfoKey);
    const caller = info?.principal ? `sub:${info.principal.subjectId}` : `ip:${info?.clientIp ?? "unknown"}`;
    // A call waiting for its caller's lease request leaves at its deadline or when cancelled.
    const spend = limits.consumeLeased("edge", caller, perMinute, 60, "RATE_LIMITED", { deadlineAt: info?.deadlineAt, signal: req.signal });
    const policy = methodPolicy(req.method);
    if (req.stream || policy.mutating || policy.anonymous) {
      await spend;
      return await next(req);
    }
    // Whichever fails first answers; a refusal does not wait for the read.
    const [res] = await Promise.all([next(req), spend]);
    return res;
  };
}
