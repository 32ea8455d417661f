// Outermost server interceptor: continues the caller's trace (W3C traceparent), opens
// the server span, stamps `x-trace-id` on every response (success or error), turns any
// unexpected throw into INTERNAL without internals (logged with its trace id), and
// writes one access-log line per call.
import { Code, ConnectError, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { log } from "../logger.js";
import { withTraceId } from "../errors.js";
import { extractContext, tracer } from "../tracing.js";
import { bindIterable } from "./authenticate.js";

export const TRACE_HEADER = "x-trace-id";

export function observe(serviceName: string): Interceptor {
  return (next) => async (req) => {
    const rpc = `${req.service.typeName}/${req.method.name}`;
    const parent = extractContext(req.header);
    const span = tracer().startSpan(
      rpc,
      { kind: SpanKind.SERVER, attributes: { "rpc.system": "connect_rpc", "rpc.service": req.service.typeName, "rpc.method": req.method.name, "fuel.service": serviceName } },
      parent,
    );
    const traceId = span.spanContext().traceId;
    const started = performance.now();
    const finish = (code: Code | 0, err?: unknown) => {
      const ms = Math.round((performance.now() - started) * 10) / 10;
      span.setAttribute("rpc.connect_rpc.error_code", code === 0 ? "ok" : Code[code]);
      if (code === Code.Internal || code === Code.Unknown) {
        span.setStatus({ code: SpanStatusCode.ERROR });
        log.error({ err, service: serviceName, rpc, code: Code[code], ms, trace_id: traceId }, "rpc failed unexpectedly");
      } else {
        log.info({ service: serviceName, rpc, code: code === 0 ? "ok" : Code[code], ms, trace_id: traceId }, "rpc");
      }
      span.end();
    };
    return await context.with(trace.setSpan(parent, span), async () => {
      try {
        const res = await next(req);
        res.header.set(TRACE_HEADER, traceId);
        if (!res.stream) {
          finish(0);
          return res;
        }
        const spanCtx = trace.setSpan(parent, span);
        const guarded = guardStream(res as StreamResponse, traceId, finish);
        return { ...res, message: bindIterable(guarded, (fn) => context.with(spanCtx, fn)) } as StreamResponse;
      } catch (err) {
        const mapped = mapError(err, traceId);
        finish(mapped.code, err);
        throw mapped;
      }
    });
  };
}

async function* guardStream(res: StreamResponse, traceId: string, finish: (c: Code | 0, e?: unknown) => void) {
  try {
    yield* res.message;
    finish(0);
  } catch (err) {
    const mapped = mapError(err, traceId);
    finish(mapped.code, err);
    throw mapped;
  }
}

/** Expected errors keep their code and details; anything else becomes a bare INTERNAL. */
export function mapError(err: unknown, traceId: string): ConnectError {
  let ce: ConnectError;
  if (err instanceof ConnectError) {
    ce = err;
  } else if (err instanceof Error && err.name === "AbortError") {
    ce = new ConnectError("request cancelled or deadline exceeded", Code.DeadlineExceeded);
  } else {
    ce = new ConnectError("internal error", Code.Internal);
  }
  const out = withTraceId(ce, traceId);
  out.metadata.set(TRACE_HEADER, traceId);
  return out;
}
