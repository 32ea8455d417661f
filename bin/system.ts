// Starts the whole system or any subset of it in this process: shared infrastructure,
// the chosen services (each on its own port, talking to the others over real HTTP/2),
// and the gateway. `npm start`, the tests, the demo and the bench all come through here.
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { GetJwksRequestSchema, AuthService } from "../gen/fuel/auth/v1/auth_pb.js";
import { create } from "@bufbuild/protobuf";
import type { Config, ServiceName } from "../platform/config.js";
import { log } from "../platform/logger.js";
import type { Mesh } from "../platform/mesh.js";
import { bootService, startInfra, type Infra, type RunningService } from "../platform/runtime.js";
import type { JwksSource } from "../platform/tokens.js";
import { startTracing } from "../platform/tracing.js";
import { setSampleCacheMs } from "../platform/metrics.js";
import { startMetricsServer, type MetricsServer } from "../platform/metrics-server.js";
import { startGateway, type RunningGateway } from "../gateway/index.js";
import { gatewayHttpRoutes } from "../gateway/http-routes.js";
import { ALL_SERVICES, MODULES } from "../services/registry.js";
import { paymentGatewayName } from "../services/payment/settings.js";
import type { DevInbox } from "../dev/inbox.js";
import type { SimulatedGateway } from "../dev/payment-gateway/index.js";
import { startStandIns } from "./stand-ins.js";

export interface RunningSystem {
  infra: Infra;
  services: Partial<Record<ServiceName, RunningService>>;
  gateway: RunningGateway | null;
  /** The dev provider (fake SMS/SMTP/push with an inbox), when no real provider is configured. */
  devInbox: DevInbox | null;
  /** The simulated payment gateway process, when no real one is configured. */
  paymentGateway: SimulatedGateway | null;
  /** The Prometheus endpoint of this process (null when METRICS_PORT=-1). */
  metrics: MetricsServer | null;
  cfg: Config;
  stop(): Promise<void>;
}

/** Every service verifies access tokens with AuthService's published keys. */
export const jwksFromAuth = (mesh: Mesh): JwksSource => async () => {
  const res = await mesh.client(AuthService).getJwks(create(GetJwksRequestSchema), { timeoutMs: 5_000 });
  return JSON.parse(res.jwksJson);
};

export async function startSystem(cfg: Config, opts: { now?: () => Date } = {}): Promise<RunningSystem> {
  startTracing({ defaultService: defaultServiceName(cfg), otlpEndpoint: cfg.otelEndpoint, resourceAttributes: cfg.otelResourceAttributes });
  log.level = cfg.logLevel;
  setSampleCacheMs(cfg.metricsCacheMs);
  // Port 0 means "any free port": pick them now so every service knows every address.
  for (const name of cfg.services) {
    if (cfg.ports[name] === 0) {
      cfg.ports[name] = await freePort();
      cfg.urls[name] = `http://127.0.0.1:${cfg.ports[name]}`;
    }
  }
  // The webhook endpoint relays deliveries as from PaymentService's gateway: its name is
  // checked before anything starts.
  const httpRoutes = cfg.gateway ? gatewayHttpRoutes(paymentGatewayName(cfg.env)) : undefined;
  if (cfg.gateway && cfg.gatewayPort === 0) cfg.gatewayPort = await freePort();
  cfg.publicUrl ??= `http://127.0.0.1:${cfg.gatewayPort}`;
  // No real providers or payment gateway configured (development, tests): the dev inbox
  // and the simulated gateway stand in, so messages really travel over SMTP and HTTP and
  // payments are confirmed by signed webhooks to our public endpoint.
  const standIns = await startStandIns(cfg, cfg.publicUrl);
  cfg.env = standIns.env;
  const { devInbox, paymentGateway } = standIns;
  let infra: Infra;
  try {
    infra = await startInfra(cfg, opts.now);
  } catch (err) {
    await standIns.close();
    throw err;
  }
  const services: Partial<Record<ServiceName, RunningService>> = {};
  let metrics: MetricsServer | null = null;
  try {
    metrics = cfg.metricsPort >= 0 ? await startMetricsServer(cfg.host, cfg.metricsPort) : null;
    // Migrations take the same advisory lock, so run the services' starts one by one.
    for (const name of cfg.services) {
      services[name] = await bootService(MODULES[name], infra, jwksFromAuth, cfg.ports[name]);
    }
    const gateway = cfg.gateway
      ? await startGateway({ cfg, port: cfg.gatewayPort, services: ALL_SERVICES, limits: infra.limits, jwks: jwksFromAuth, httpRoutes })
      : null;
    return {
      infra,
      services,
      gateway,
      devInbox,
      paymentGateway,
      metrics,
      cfg,
      async stop() {
        await gateway?.close();
        await Promise.all(Object.values(services).map((s) => s.close()));
        await metrics?.close();
        await infra.close();
        await standIns.close();
      },
    };
  } catch (err) {
    await Promise.all(Object.values(services).map((s) => s.close().catch(() => undefined)));
    await metrics?.close();
    await infra.close();
    await standIns.close();
    throw err;
  }
}

/**
 * service.name of spans no service claims: OTEL_SERVICE_NAME, else the one component
 * this process runs (a Kubernetes pod runs one), else the system's name.
 */
export function defaultServiceName(cfg: Config): string {
  if (cfg.otelServiceName) return cfg.otelServiceName;
  const parts: string[] = [...cfg.services, ...(cfg.gateway ? ["gateway"] : [])];
  return parts.length === 1 ? parts[0]! : "fuel";
}

// Ports picked now and listened on later. A port from listen(0) is in the kernel's
// ephemeral range, where every outgoing connection (to PostgreSQL, Redis) and every other
// listen(0) made before our listen also draws its local port — one such draw once took a
// picked port and failed a suite with EADDRINUSE. So pick below that range, where the
// kernel hands out nothing by itself, check the port is free, and never hand one out twice.
const PICK_FLOOR = 15_000;
const picked = new Set<number>();

function ephemeralStart(): number {
  try {
    const lo = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    if (Number.isInteger(lo) && lo > PICK_FLOOR + 1000) return lo;
  } catch {
    // Not Linux: 32768 is below the usual ranges elsewhere (49152 on macOS and Windows).
  }
  return 32_768;
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  const top = ephemeralStart();
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = PICK_FLOOR + Math.floor(Math.random() * (top - PICK_FLOOR));
    if (picked.has(port) || !(await canListen(port))) continue;
    picked.add(port);
    return port;
  }
  throw new Error(`no free port found between ${PICK_FLOOR} and ${top}`);
}

/**
 * Resolves when a `bin/mesh.ts` child prints its ready line; rejects (with the end of its
 * stderr) when it exits first or takes longer than `timeoutMs`.
 */
export async function meshReady(child: ChildProcess, timeoutMs: number): Promise<void> {
  let err = "";
  child.stderr!.on("data", (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mesh did not start in ${timeoutMs} ms: ${err}`)), timeoutMs);
    child.stdout!.on("data", (c: Buffer) => {
      if (c.toString().includes("ready")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`mesh exited ${code}: ${err}`));
    });
  });
}

export { log };
