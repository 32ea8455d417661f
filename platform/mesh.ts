// Clients for mesh hops. Every hop carries: the W3C trace context (a client span is
// opened per call), the end user's access token, this service's own service token,
// the end client's IP, and what remains of the caller's deadline.
import type { SecureClientSessionOptions } from "node:http2";
import type { DescService } from "@bufbuild/protobuf";
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { DEFAULT_MESH_RESOLVE_INTERVAL_MS } from "./config.js";
import { currentCall } from "./context.js";
import { fastGrpcTransport } from "./grpc-client.js";
import { CLIENT_IP_HEADER, SERVICE_TOKEN_HEADER } from "./interceptors/authenticate.js";
import { balancedTransport, Peers } from "./peers.js";
import type { ServiceTokens } from "./tokens.js";
import { injectContext, tracer } from "./tracing.js";

/** A hop never waits longer than this even if the caller has more time. */
const MAX_HOP_MS = 30_000;
const MAX_STREAM_HOP_MS = 30 * 60_000;

export function meshInterceptor(tokens: ServiceTokens | null): Interceptor {
  return (next) => async (req) => {
    const call = currentCall.getStore();
    if (call?.accessToken && !req.header.has("authorization")) req.header.set("authorization", `Bearer ${call.accessToken}`);
    if (call?.clientIp) req.header.set(CLIENT_IP_HEADER, call.clientIp);
    if (tokens) req.header.set(SERVICE_TOKEN_HEADER, await tokens.token());
    const span = tracer().startSpan(`${req.service.typeName}/${req.method.name}`, {
      kind: SpanKind.CLIENT,
      attributes: { "rpc.system": "connect_rpc", "rpc.service": req.service.typeName, "rpc.method": req.method.name },
    });
    const ctx = trace.setSpan(context.active(), span);
    injectContext(req.header, ctx);
    try {
      return await context.with(ctx, () => next(req));
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw err;
    } finally {
      span.end();
    }
  };
}

export type Protocol = "grpc" | "connect";

/**
 * Calls to the service at `baseUrl`, balanced per call over the replicas its name resolves
 * to (peers.ts), re-resolved every `resolveIntervalMs` (0: one connection to the name).
 */
export function meshTransport(
  baseUrl: string,
  tokens: ServiceTokens | null,
  protocol: Protocol = "grpc",
  inProcess = false,
  resolveIntervalMs = DEFAULT_MESH_RESOLVE_INTERVAL_MS,
): Transport {
  const options = {
    baseUrl,
    httpVersion: "2" as const,
    interceptors: [meshInterceptor(tokens)],
    useBinaryFormat: true,
    readMaxBytes: 32 * 1024 * 1024,
    writeMaxBytes: 32 * 1024 * 1024,
  };
  if (protocol === "connect") {
    return balancedTransport(new Peers(baseUrl, resolveIntervalMs), (nodeOptions) => createConnectTransport({ ...options, nodeOptions }));
  }
  const fallback = (nodeOptions: SecureClientSessionOptions) => createGrpcTransport({ ...options, nodeOptions });
  return fastGrpcTransport({ ...options, fallback, inProcess, resolveIntervalMs });
}

/**
 * A client whose every call inherits the current call's deadline and cancellation, so
 * handlers write `clients.auth.getJwks({})` and the hop is bounded correctly.
 */
export function meshClient<S extends DescService>(service: S, transport: Transport): Client<S> {
  const inner = createClient(service, transport) as unknown as Record<string, (req: unknown, opts?: Record<string, unknown>) => unknown>;
  const wrapped: Record<string, unknown> = {};
  for (const m of service.methods) {
    const fn = inner[m.localName]!;
    const cap = m.methodKind === "unary" ? MAX_HOP_MS : MAX_STREAM_HOP_MS;
    wrapped[m.localName] = (req: unknown, opts: Record<string, unknown> = {}) => {
      const call = currentCall.getStore();
      const remaining = call ? Math.max(1, call.deadlineAt - Date.now()) : cap;
      const timeoutMs = (opts.timeoutMs as number | undefined) ?? Math.min(remaining, cap);
      return fn(req, { ...opts, timeoutMs, signal: (opts.signal as AbortSignal | undefined) ?? call?.signal });
    };
  }
  return wrapped as unknown as Client<S>;
}

/** Resolves a service descriptor to its address: fuel.<name>.v1.* → urls[name]. */
export class Mesh {
  private readonly cache = new Map<string, unknown>();
  constructor(
    private readonly urls: Record<string, string>,
    private readonly tokens: ServiceTokens,
    private readonly protocol: Protocol = "grpc",
    /** Call services running in this process directly (see local.ts). */
    private readonly inProcess = true,
    /** How often a service URL's name is resolved again to find its replicas (MESH_RESOLVE_INTERVAL_MS). */
    private readonly resolveIntervalMs = DEFAULT_MESH_RESOLVE_INTERVAL_MS,
  ) {}

  client<S extends DescService>(service: S): Client<S> {
    const hit = this.cache.get(service.typeName);
    if (hit) return hit as Client<S>;
    const name = service.typeName.split(".")[1] ?? "";
    const url = this.urls[name];
    if (!url) throw new Error(`no address configured for ${service.typeName}`);
    const c = meshClient(service, meshTransport(url, this.tokens, this.protocol, this.inProcess, this.resolveIntervalMs));
    this.cache.set(service.typeName, c);
    return c;
  }
}
