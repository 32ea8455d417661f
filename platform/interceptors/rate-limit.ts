// Per-caller rate limit where a public request enters the system: a budget per
// authenticated subject, or per client IP for anonymous calls, spent before the handler.
// The gateway spends it in its own chain for calls it forwards; for a call it hands
// straight to a service in this process (gateway/local-edge.ts), that service's chain
// spends it — the call is marked as having entered at the edge — so a caller's budget is
// spent once either way, and a mesh hop inside the system never spends it.
import type { Interceptor } from "@connectrpc/connect";
import { atEdgeKey, callInfoKey } from "../context.js";
import type { RateLimits } from "../ratelimit.js";

export function rateLimit(limits: RateLimits, perMinute: number, opts: { onlyAtEdge?: boolean } = {}): Interceptor {
  return (next) => async (req) => {
    if (opts.onlyAtEdge && !req.contextValues.get(atEdgeKey)) return await next(req);
    if (req.service.typeName.startsWith("grpc.")) return await next(req); // probes
    const info = req.contextValues.get(callInfoKey);
    const caller = info?.principal ? `sub:${info.principal.subjectId}` : `ip:${info?.clientIp ?? "unknown"}`;
    await limits.consume("edge", caller, perMinute, 60);
    return await next(req);
  };
}
