// Trace ids for what the public port answers outside the RPC interceptors: the plain HTTP
// routes (payment webhook, jwks.json), the edge's own answers (CORS preflight, 413) and
// the RPC router's protocol answers (404, 405, 415). Each carries `x-trace-id` as every
// RPC does (platform/interceptors/observe.ts), continuing the caller's W3C traceparent
// when it sent one.
import { randomBytes } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { context, isSpanContextValid, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type TextMapGetter } from "@opentelemetry/api";
import { TRACE_HEADER } from "../platform/interceptors/observe.js";
import { log } from "../platform/logger.js";
import { GATEWAY_SERVICE } from "../platform/policy.js";
import { tracer } from "../platform/tracing.js";
import type { NodeHandler } from "./edge.js";

type Req = Parameters<NodeHandler>[0];
type Res = Parameters<NodeHandler>[1];

const nodeHeaders: TextMapGetter<IncomingHttpHeaders> = {
  keys: (h) => Object.keys(h),
  get: (h, k) => h[k],
};

/** The caller's trace context from its request headers (empty when it sent none). */
export function callerContext(req: Req): Context {
  return propagation.extract(ROOT_CONTEXT, req.headers, nodeHeaders);
}

/** The caller's trace id when it sent a valid traceparent, else a new one. */
export function traceIdFor(req: Req): string {
  const sc = trace.getSpanContext(callerContext(req));
  return sc && isSpanContextValid(sc) ? sc.traceId : randomBytes(16).toString("hex");
}

function hasTraceHeader(headers: unknown): boolean {
  if (!headers || typeof headers !== "object") return false;
  if (Array.isArray(headers)) {
    // Raw [name, value, name, value…] or [[name, value]…] forms.
    return headers.some((h, i) => (Array.isArray(h) ? String(h[0]).toLowerCase() === TRACE_HEADER : i % 2 === 0 && String(h).toLowerCase() === TRACE_HEADER));
  }
  return Object.keys(headers).some((k) => k.toLowerCase() === TRACE_HEADER);
}

function isGrpcAnswer(res: Res, headers: unknown): boolean {
  const fromArgs = headers && typeof headers === "object" && !Array.isArray(headers)
    ? Object.entries(headers).find(([k]) => k.toLowerCase() === "content-type")?.[1]
    : undefined;
  return String(fromArgs ?? res.getHeader("content-type") ?? "").startsWith("application/grpc");
}

/**
 * Makes sure the response to `req` carries `x-trace-id` when its head is written. An RPC's
 * answer already has the id of its server span (its gRPC errors carry it in trailers), so
 * only an answer without one, and not a gRPC answer, is given one here; the id is made
 * only then.
 */
export function stampTraceId(req: Req, res: Res): void {
  const writeHead = res.writeHead as (...args: unknown[]) => Res;
  res.writeHead = function (this: Res, ...args: unknown[]) {
    const headers = args.find((a, i) => i > 0 && typeof a === "object");
    if (!res.headersSent && !res.hasHeader(TRACE_HEADER) && !hasTraceHeader(headers) && !isGrpcAnswer(res, headers)) {
      res.setHeader(TRACE_HEADER, traceIdFor(req));
    }
    return writeHead.apply(this, args);
  } as typeof res.writeHead;
}

/**
 * A plain HTTP route with a server span of its own: its answer carries the span's trace
 * id, mesh calls it makes continue the trace (`handler` runs in the span's context; work
 * it defers to request events must bind `context.active()` itself), and it writes one
 * access-log line, as every RPC does.
 */
export function tracedRoute(name: string, handler: NodeHandler): NodeHandler {
  return (req, res) => {
    const parent = callerContext(req);
    const span = tracer().startSpan(name, { kind: SpanKind.SERVER, attributes: { "http.request.method": req.method ?? "", "http.route": name } }, parent);
    const traceId = span.spanContext().traceId;
    const started = performance.now();
    res.setHeader(TRACE_HEADER, traceId);
    res.once("close", () => {
      const status = res.statusCode;
      span.setAttribute("http.response.status_code", status);
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
      const ms = Math.round((performance.now() - started) * 10) / 10;
      log.info({ service: GATEWAY_SERVICE, route: name, method: req.method, status, ms, trace_id: traceId }, "http");
    });
    context.with(trace.setSpan(parent, span), () => handler(req, res));
  };
}
