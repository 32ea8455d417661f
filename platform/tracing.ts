// OpenTelemetry tracing. Every call has a real trace id even with no collector; spans are
// exported over OTLP/HTTP (JSON) only when OTEL_EXPORTER_OTLP_ENDPOINT is set, and only
// then are pg and ioredis instrumented (they are require()d after start for that). RPC
// hops are traced by our Connect interceptors because the http instrumentation does not
// cover HTTP/2.
//
// service.name is per service, not per process: one process may run several services
// (`npm start` runs all of them), and a trace backend files spans by the service.name of
// their *resource* — a span attribute with that name would be ignored. A tracer provider
// has one resource, so there is one provider per service, each with its own exporter,
// behind one routing provider registered globally. The routing provider starts a span in
// the provider of the service whose code is running: the server interceptor marks the
// context of every call with its service (withService), so the pg and ioredis spans of a
// handler land under that service too. Work outside any call (a relay, a sweeper) marks
// its own context, or falls to the process's default service — in a Kubernetes pod, which
// runs one service, that is the right name anyway.
import { randomUUID } from "node:crypto";
import { context, createContextKey, propagation, trace, type Context, type Span, type SpanOptions, type TextMapGetter, type TextMapSetter, type Tracer, type TracerOptions, type TracerProvider } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { registerInstrumentations } from "@opentelemetry/instrumentation";
import { IORedisInstrumentation } from "@opentelemetry/instrumentation-ioredis";
import { PgInstrumentation } from "@opentelemetry/instrumentation-pg";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";

/** service.namespace of every span: the services are parts of one system. */
export const SERVICE_NAMESPACE = "fuel";
/** More service names than the system has; a name past this goes to the default provider. */
const MAX_PROVIDERS = 32;

export interface TracingOptions {
  /** service.name of spans no service claims (work outside any call). */
  defaultService: string;
  /** OTLP/HTTP base URL (OTEL_EXPORTER_OTLP_ENDPOINT); spans are exported to `<it>/v1/traces`. */
  otlpEndpoint?: string;
  /** From OTEL_RESOURCE_ATTRIBUTES (k8s.pod.name, …); added to every service's resource. */
  resourceAttributes?: Record<string, string>;
}

const SERVICE_KEY = createContextKey("fuel.service");

/** `ctx` marked as running `service`'s code: spans started under it carry that service.name. */
export function withService(ctx: Context, service: string): Context {
  return ctx.setValue(SERVICE_KEY, service);
}

class ServiceTracerProvider implements TracerProvider {
  private readonly providers = new Map<string, BasicTracerProvider>();
  private readonly tracers = new Map<string, RoutingTracer>();
  private readonly instanceId = randomUUID();

  constructor(private readonly opts: TracingOptions) {}

  provider(service: string): BasicTracerProvider {
    let p = this.providers.get(service);
    if (p) return p;
    if (this.providers.size >= MAX_PROVIDERS && service !== this.opts.defaultService) return this.provider(this.opts.defaultService);
    // The platform's attributes may say more (or another namespace); never another name.
    const resource = defaultResource().merge(resourceFromAttributes({
      "service.namespace": SERVICE_NAMESPACE,
      "service.instance.id": this.instanceId,
      "process.pid": process.pid,
      ...this.opts.resourceAttributes,
      "service.name": service,
    }));
    const endpoint = this.opts.otlpEndpoint?.replace(/\/$/, "");
    p = new BasicTracerProvider({
      resource,
      spanProcessors: endpoint ? [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${endpoint}/v1/traces` }))] : [],
    });
    this.providers.set(service, p);
    return p;
  }

  serviceOf(ctx: Context): string {
    return (ctx.getValue(SERVICE_KEY) as string | undefined) ?? this.opts.defaultService;
  }

  // Asked for on every call (tracer() below): one routing tracer per scope, kept.
  getTracer(name: string, version?: string, options?: TracerOptions): Tracer {
    const key = `${name}@${version ?? ""}`;
    let t = this.tracers.get(key);
    if (!t) {
      t = new RoutingTracer(this, name, version, options);
      this.tracers.set(key, t);
    }
    return t;
  }

  async forceFlush(): Promise<void> {
    await Promise.all([...this.providers.values()].map((p) => p.forceFlush()));
  }

  async shutdown(): Promise<void> {
    await Promise.all([...this.providers.values()].map((p) => p.shutdown().catch(() => undefined)));
  }
}

class RoutingTracer implements Tracer {
  private readonly byService = new Map<string, Tracer>();

  constructor(private readonly root: ServiceTracerProvider, private readonly name: string, private readonly version?: string, private readonly options?: TracerOptions) {}

  private pick(ctx: Context): Tracer {
    const service = this.root.serviceOf(ctx);
    let t = this.byService.get(service);
    if (!t) {
      t = this.root.provider(service).getTracer(this.name, this.version, this.options);
      this.byService.set(service, t);
    }
    return t;
  }

  startSpan(name: string, options?: SpanOptions, ctx: Context = context.active()): Span {
    return this.pick(ctx).startSpan(name, options, ctx);
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, ...rest: [F] | [SpanOptions, F] | [SpanOptions, Context, F]): ReturnType<F> {
    const fn = rest[rest.length - 1] as F;
    const options = rest.length > 1 ? (rest[0] as SpanOptions) : undefined;
    const parent = rest.length > 2 ? (rest[1] as Context) : context.active();
    const span = this.startSpan(name, options, parent);
    return context.with(trace.setSpan(parent, span), fn as (span: Span) => ReturnType<F>, undefined, span);
  }
}

let provider: ServiceTracerProvider | undefined;

/** Starts tracing once per process. Call before the first pg or ioredis use. */
export function startTracing(opts: TracingOptions): void {
  if (provider) return;
  provider = new ServiceTracerProvider(opts);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
  trace.setGlobalTracerProvider(provider);
  // pg and ioredis spans only when they go somewhere: wrapping every query and command
  // costs about a third of the CPU of a simple read, for spans nobody would see.
  if (opts.otlpEndpoint) {
    registerInstrumentations({
      tracerProvider: provider,
      instrumentations: [new PgInstrumentation({ enhancedDatabaseReporting: false, requireParentSpan: true }), new IORedisInstrumentation()],
    });
  }
}

/** Exports every span ended so far (tests; the exporters otherwise batch for up to 5 s). */
export async function flushTracing(): Promise<void> {
  await provider?.forceFlush();
}

export async function stopTracing(): Promise<void> {
  const p = provider;
  provider = undefined;
  await p?.shutdown();
  trace.disable();
  propagation.disable();
  context.disable();
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
