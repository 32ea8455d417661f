// Outermost server interceptor: continues the caller's trace (W3C traceparent), opens
// the server span, stamps `x-trace-id` on every response (success or error), turns a
// failure of the infrastructure (database, Redis, a socket) into a retryable UNAVAILABLE
// and any other unexpected throw into INTERNAL, both without internals (logged with the
// trace id), and writes one access-log line and one RPC metric observation per call.
import { Code, ConnectError, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { LogThrottle } from "../log-throttle.js";
import { log } from "../logger.js";
import { classifyInfrastructure, infrastructureFailure, withTraceId } from "../errors.js";
import { rpcRecorder } from "../metrics.js";
import { extractContext, tracer, withService } from "../tracing.js";
import { bindIterable } from "./authenticate.js";

export const TRACE_HEADER = "x-trace-id";

export function observe(serviceName: string): Interceptor {
  const record = rpcRecorder(serviceName);
  return (next) => async (req) => {
    const rpc = `${req.service.typeName}/${req.method.name}`;
    // Spans started while this call runs (its own, pg's, a hop's) carry this service's name.
    const parent = withService(extractContext(req.header), serviceName);
    const span = tracer().startSpan(
      rpc,
      { kind: SpanKind.SERVER, attributes: { "rpc.system": "connect_rpc", "rpc.service": req.service.typeName, "rpc.method": req.method.name, "fuel.service": serviceName } },
      parent,
    );
    const traceId = span.spanContext().traceId;
    const started = performance.now();
    const finish = (code: Code | 0, err?: unknown) => {
      const cause = err instanceof ConnectError ? err.cause : err;
      const elapsedMs = performance.now() - started;
      record(req.method, code, elapsedMs / 1000);
      const ms = Math.round(elapsedMs * 10) / 10;
      span.setAttribute("rpc.connect_rpc.error_code", code === 0 ? "ok" : Code[code]);
      if (code === Code.Internal || code === Code.Unknown) {
        span.setStatus({ code: SpanStatusCode.ERROR });
        log.error({ err, service: serviceName, rpc, code: Code[code], ms, trace_id: traceId }, "rpc failed unexpectedly");
      } else if (cause && classifyInfrastructure(cause)) {
        span.setStatus({ code: SpanStatusCode.ERROR });
        log.info({ service: serviceName, rpc, code: Code[code], ms, trace_id: traceId }, "rpc");
        infrastructureLog.note(serviceName, cause);
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

/**
 * Expected errors keep their code and details; an infrastructure failure becomes its
 * retryable error (errors.ts, infrastructureFailure); anything else a bare INTERNAL.
 */
export function mapError(err: unknown, traceId: string): ConnectError {
  let ce: ConnectError;
  if (err instanceof ConnectError) {
    // A raw error wrapped on the way (ConnectError.from) keeps its cause.
    const wrapped = err.code === Code.Internal || err.code === Code.Unknown ? infrastructureFailure(err.cause) : undefined;
    ce = wrapped ?? err;
  } else if (err instanceof Error && err.name === "AbortError") {
    ce = new ConnectError("request cancelled or deadline exceeded", Code.DeadlineExceeded);
  } else {
    ce = infrastructureFailure(err) ?? new ConnectError("internal error", Code.Internal);
  }
  const out = withTraceId(ce, traceId);
  out.metadata.set(TRACE_HEADER, traceId);
  return out;
}

/** One warning per reason per period while the infrastructure fails, not one per call. */
const INFRASTRUCTURE_WARN_EVERY_MS = 5_000;

class InfrastructureLog {
  private readonly throttle = new LogThrottle(INFRASTRUCTURE_WARN_EVERY_MS);

  note(serviceName: string, err: unknown): void {
    const reason = classifyInfrastructure(err)!.reason;
    const passed = this.throttle.pass(`${serviceName}:${reason}`);
    if (passed) log.warn({ err, service: serviceName, reason, suppressed: passed.suppressed }, "calls failing on infrastructure; answered retryably");
  }
}

const infrastructureLog = new InfrastructureLog();
