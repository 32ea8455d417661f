// The public edge: one port, every protocol (gRPC, gRPC-Web, Connect JSON and binary
// over HTTP/1.1 and HTTP/2), every public method of every service forwarded over gRPC.
// It verifies tokens, applies each method's policy and the per-caller rate limit, and
// stamps x-trace-id on every response before anything reaches a service.
import { setMaxListeners } from "node:events";
import type { AddressInfo } from "node:net";
import type { DescService } from "@bufbuild/protobuf";
import type { Config } from "../platform/config.js";
import { callInfoKey } from "../platform/context.js";
import { authenticate } from "../platform/interceptors/authenticate.js";
import { enforceDeadline } from "../platform/interceptors/deadline.js";
import { observe } from "../platform/interceptors/observe.js";
import { log } from "../platform/logger.js";
import { Mesh } from "../platform/mesh.js";
import { GATEWAY_SERVICE, WEBHOOK_RELAY_SERVICE } from "../platform/policy.js";
import type { RateLimits } from "../platform/ratelimit.js";
import { connectHandler, drain } from "../platform/server.js";
import { HealthState } from "../platform/health.js";
import { AccessTokenVerifier, ServiceTokens, type JwksSource } from "../platform/tokens.js";
import { edge, type NodeHandler } from "./edge.js";
import { forwardRoutes } from "./forward.js";
import { createPublicListener } from "./listener.js";
import { rateLimit } from "../platform/interceptors/rate-limit.js";
import { LocalEdge } from "./local-edge.js";

export interface GatewayOptions {
  cfg: Config;
  port: number;
  services: DescService[];
  limits: RateLimits;
  jwks: (mesh: Mesh) => JwksSource;
  /** Plain-HTTP routes (webhooks, jwks.json, the console) tried before the RPCs; a key ending in "/" serves every path under it. */
  httpRoutes?: (mesh: Mesh, relay: Mesh, cfg: Config) => Record<string, NodeHandler>;
}

export interface RunningGateway {
  port: number;
  url: string;
  health: HealthState;
  close(): Promise<void>;
}

export async function startGateway(opts: GatewayOptions): Promise<RunningGateway> {
  const { cfg } = opts;
  const tokens = new ServiceTokens(cfg.meshSecret, GATEWAY_SERVICE);
  const mesh = new Mesh(cfg.urls, tokens, "grpc", cfg.meshInProcess, cfg.meshResolveIntervalMs);
  const verifier = new AccessTokenVerifier(opts.jwks(mesh), cfg.jwtIssuer, cfg.jwtAudience);
  const health = new HealthState(opts.services.map((s) => s.typeName), { mirrorProcess: true });
  const shutdown = new AbortController();
  setMaxListeners(0, shutdown.signal); // one listener per in-flight call
  // Webhooks reach internal methods under their own mesh identity, never the gateway's.
  const relay = new Mesh(cfg.urls, new ServiceTokens(cfg.meshSecret, WEBHOOK_RELAY_SERVICE), "grpc", cfg.meshInProcess, cfg.meshResolveIntervalMs);
  const plain = opts.httpRoutes?.(mesh, relay, cfg) ?? {};

  const rpc = connectHandler(
    {
      services: opts.services,
      routes: forwardRoutes(opts.services, mesh),
      interceptors: [
        observe(GATEWAY_SERVICE),
        authenticate({ verifier, serviceTokens: tokens, defaultDeadlineMs: cfg.defaultDeadlineMs, maxDeadlineMs: cfg.maxDeadlineMs }),
        rateLimit(opts.limits, cfg.rateLimitPerMinute),
        enforceDeadline((req) => (req.contextValues as { get: (k: typeof callInfoKey) => { deadlineAt: number } | null }).get(callInfoKey)?.deadlineAt ?? Date.now() + cfg.defaultDeadlineMs),
      ],
      maxRequestBytes: cfg.maxRequestBytes,
      localFirst: cfg.meshInProcess ? new LocalEdge(opts.services, cfg.urls, tokens) : undefined,
    },
    health,
    shutdown.signal,
  );

  const prefixes = Object.keys(plain).filter((k) => k.endsWith("/"));
  const router: NodeHandler = (req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    const route = plain[path] ?? plain[prefixes.find((p) => path.startsWith(p)) ?? ""];
    if (route) return route(req, res);
    (rpc as unknown as NodeHandler)(req, res);
  };
  const listener = createPublicListener(edge(router, { corsOrigins: cfg.corsOrigins, maxRequestBytes: cfg.maxRequestBytes }),
    cfg.tlsCertFile && cfg.tlsKeyFile ? { certFile: cfg.tlsCertFile, keyFile: cfg.tlsKeyFile } : undefined);

  await new Promise<void>((resolve, reject) => {
    listener.server.once("error", reject);
    listener.server.listen(opts.port, cfg.host, () => resolve());
  });
  const port = (listener.server.address() as AddressInfo).port;
  const scheme = cfg.tlsCertFile ? "https" : "http";
  log.info({ port }, "gateway listening");
  return {
    port,
    url: `${scheme}://127.0.0.1:${port}`,
    health,
    close: async () => {
      // HTTP/1.1 has no GOAWAY: a keep-alive connection is closed once it is idle, and
      // one busy now (a stream that the drain ends) becomes idle later.
      listener.closeIdle();
      const idleSweep = setInterval(() => listener.closeIdle(), 50);
      const hardStop = setTimeout(() => {
        for (const c of listener.connections) c.destroy();
      }, cfg.drainTimeoutMs);
      await drain(listener.server, listener.sessions, health, shutdown, cfg.drainTimeoutMs);
      clearInterval(idleSweep);
      clearTimeout(hardStop);
    },
  };
}
