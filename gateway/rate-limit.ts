// Per-caller rate limit at the edge: a budget per authenticated subject, or per client IP
// for anonymous calls, spent before any service is called.
import type { Interceptor } from "@connectrpc/connect";
import { callInfoKey } from "../platform/context.js";
import type { RateLimits } from "../platform/ratelimit.js";

export function rateLimit(limits: RateLimits, perMinute: number): Interceptor {
  return (next) => async (req) => {
    if (req.service.typeName.startsWith("grpc.")) return await next(req); // probes
    const info = req.contextValues.get(callInfoKey);
    const caller = info?.principal ? `sub:${info.principal.subjectId}` : `ip:${info?.clientIp ?? "unknown"}`;
    await limits.consume("edge", caller, perMinute, 60);
    return await next(req);
  };
}
