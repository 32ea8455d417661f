// OpenTelemetry. The NodeSDK always runs, so every call has a real trace id even with no
// collector; spans are exported over OTLP/HTTP only when OTEL_EXPORTER_OTLP_ENDPOINT is
// set, and only then are pg and ioredis instrumented (they are require()d after start for that);
// RPC hops are traced by our Connect interceptors because the http instrumentation does
// not cover HTTP/2.
import { context, propagation, trace, type Context, type TextMapGetter, type TextMapSetter } from "@opentelemetry/api";
import { NodeSDK } from "@opentelemetry/sdk-node";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { BatchSpanProcessor, type SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { PgInstrumentation } from "@opentelemetry/instrumentation-pg";
import { IORedisInstrumentation } from "@opentelemetry/instrumentation-ioredis";

let sdk: NodeSDK | undefined;

// With no collector we still want real, recording spans (their ids are our trace ids);
// the SDK only installs a tracer provider when it is given at least one processor.
const NOOP_PROCESSOR: SpanProcessor = {
  onStart: () => undefined,
  onEnd: () => undefined,
  forceFlush: async () => undefined,
  shutdown: async () => undefined,
};

/** Starts tracing once per process. Call before the first pg or ioredis use. */
export function startTracing(serviceName: string, otlpEndpoint?: string): void {
  if (sdk) return;
  const spanProcessors: SpanProcessor[] = otlpEndpoint
    ? [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${otlpEndpoint.replace(/\/$/, "")}/v1/traces` }))]
    : [NOOP_PROCESSOR];
  sdk = new NodeSDK({
    serviceName,
    spanProcessors,
    // pg and ioredis spans only when they go somewhere: wrapping every query and command
    // costs about a third of the CPU of a simple read, for spans nobody would see.
    instrumentations: otlpEndpoint
      ? [new PgInstrumentation({ enhancedDatabaseReporting: false, requireParentSpan: true }), new IORedisInstrumentation()]
      : [],
    // We choose exporters explicitly; stop the SDK reading OTEL_TRACES_EXPORTER etc. into
    // a default OTLP exporter that would log errors when no collector runs.
    autoDetectResources: false,
    // Without a collector, no metric readers: the SDK would otherwise default to an OTLP
    // metrics exporter pushing to localhost, and every pg query would feed histograms
    // nobody reads.
    ...(otlpEndpoint ? {} : { metricReaders: [] }),
  });
  sdk.start();
}

export async function stopTracing(): Promise<void> {
  await sdk?.shutdown().catch(() => undefined);
  sdk = undefined;
}

export const tracer = () => trace.getTracer("fuel");

const headerGetter: TextMapGetter<Headers> = {
  keys: (h) => [...h.keys()],
  get: (h, k) => h.get(k) ?? undefined,
};
const headerSetter: TextMapSetter<Headers> = {
  set: (h, k, v) => h.set(k, v),
};

export function extractContext(headers: Headers): Context {
  return propagation.extract(context.active(), headers, headerGetter);
}

export function injectContext(headers: Headers, ctx: Context = context.active()): void {
  propagation.inject(ctx, headers, headerSetter);
}
