// Edge duties that sit in front of the RPC router: CORS for browser clients, security
// headers and `x-trace-id` on every response (plain-trace.ts), and a request size cap
// enforced before a body is read.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { cors as connectCors } from "@connectrpc/connect";
import { stampTraceId } from "./plain-trace.js";

type Req = IncomingMessage | Http2ServerRequest;
type Res = ServerResponse | Http2ServerResponse;
export type NodeHandler = (req: Req, res: Res) => void;

const SECURITY_HEADERS: Record<string, string> = {
  "strict-transport-security": "max-age=63072000; includeSubDomains",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
  "cache-control": "no-store",
};

const ALLOWED_HEADERS = [...connectCors.allowedHeaders, "authorization", "idempotency-key", "traceparent", "tracestate"];
const EXPOSED_HEADERS = [...connectCors.exposedHeaders, "x-trace-id", "idempotent-replayed", "traceparent"];

export function edge(inner: NodeHandler, opts: { corsOrigins: string[]; maxRequestBytes: number }): NodeHandler {
  const anyOrigin = opts.corsOrigins.includes("*");
  return (req, res) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    stampTraceId(req, res);
    const origin = req.headers.origin;
    if (origin && (anyOrigin || opts.corsOrigins.includes(origin))) {
      res.setHeader("access-control-allow-origin", anyOrigin ? "*" : origin);
      res.setHeader("vary", "Origin");
      res.setHeader("access-control-expose-headers", EXPOSED_HEADERS.join(", "));
      if (req.method === "OPTIONS") {
        res.setHeader("access-control-allow-methods", connectCors.allowedMethods.join(", "));
        res.setHeader("access-control-allow-headers", ALLOWED_HEADERS.join(", "));
        res.setHeader("access-control-max-age", "7200");
        res.writeHead(204);
        res.end();
        return;
      }
    }
    const length = Number(req.headers["content-length"] ?? 0);
    if (length > opts.maxRequestBytes) {
      res.writeHead(413, { "content-type": "application/json" });
      res.end(JSON.stringify({ code: "resource_exhausted", message: `request body exceeds ${opts.maxRequestBytes} bytes` }));
      req.resume();
      return;
    }
    inner(req, res);
  };
}
