// Configuration from environment variables, validated once at start. Every mistake is
// collected and reported together, so an operator fixes them all in one go.
import { randomBytes } from "node:crypto";
import { parseResourceAttributes } from "./resource-attributes.js";
import { redisUrlFromEnv } from "./redis-url.js";
import { serviceDatabases, type ServiceDatabase } from "./database-config.js";

export const SERVICE_NAMES = [
  "auth",
  "kyc",
  "credit",
  "transaction",
  "loan",
  "payment",
  "station",
  "notification",
] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/** How often a mesh client re-resolves a service's name by default (MESH_RESOLVE_INTERVAL_MS). */
export const DEFAULT_MESH_RESOLVE_INTERVAL_MS = 5_000;

/** Default port of each service when started together (`npm start`). */
export const DEFAULT_PORTS: Record<ServiceName | "gateway", number> = {
  gateway: 8080,
  auth: 9101,
  kyc: 9102,
  credit: 9103,
  transaction: 9104,
  loan: 9105,
  payment: 9106,
  station: 9107,
  notification: 9108,
};

export interface Config {
  /** The environment this configuration was read from: each service reads its own settings from it (its context.ts). */
  env: Readonly<Env>;
  production: boolean;
  /** Which services this process runs. */
  services: ServiceName[];
  /** Whether this process runs the gateway. */
  gateway: boolean;
  gatewayPort: number;
  /** Port per service; 0 = pick a free one (tests). */
  ports: Record<ServiceName, number>;
  /** Base URL of every service, for mesh hops (defaults to 127.0.0.1 + its port). */
  urls: Record<ServiceName, string>;
  host: string;
  /** DATABASE_URL: the database of every service without one of its own. */
  databaseUrl: string | undefined;
  /** DATABASE_DIRECT_URL, else DATABASE_URL: a session straight to DATABASE_URL's database. */
  databaseDirectUrl: string | undefined;
  /** Each service's database (`<NAME>_DATABASE_URL`, else DATABASE_URL; direct URLs for sessions); undefined = embedded. */
  databases: Record<ServiceName, ServiceDatabase | undefined>;
  pgPoolMax: number;
  /** Parameterised statements as named prepared statements (PG_NAMED_STATEMENTS; default off when a service's URL is pooled). */
  pgNamedStatements: boolean;
  /** Mesh hops to a service in the same process skip the network (MESH_IN_PROCESS, default true). */
  meshInProcess: boolean;
  /**
   * How often a mesh client resolves a service URL's name again to find its replicas, in ms
   * (MESH_RESOLVE_INTERVAL_MS, default 5000); 0 = no client-side balancing: one connection
   * to the name as given, for a service mesh or proxy that balances calls itself.
   */
  meshResolveIntervalMs: number;
  /** REDIS_URL, or REDIS_CLUSTER_NODES as a `redis+cluster://` URL (redis-url.ts); unset = the in-process store. */
  redisUrl: string | undefined;
  /** Signs service-to-service tokens (HS256). */
  meshSecret: Uint8Array;
  jwtIssuer: string;
  jwtAudience: string;
  /** Caps every RPC's deadline; requests without one get the default. */
  maxDeadlineMs: number;
  defaultDeadlineMs: number;
  maxRequestBytes: number;
  rateLimitPerMinute: number;
  corsOrigins: string[];
  tlsCertFile: string | undefined;
  tlsKeyFile: string | undefined;
  otelEndpoint: string | undefined;
  /** OTEL_RESOURCE_ATTRIBUTES, parsed: added to every service's trace resource (k8s.pod.name, …). */
  otelResourceAttributes: Record<string, string>;
  /** OTEL_SERVICE_NAME: service.name of spans no service claims; default the one component this process runs, else "fuel". */
  otelServiceName: string | undefined;
  /** Port of the Prometheus endpoint (METRICS_PORT): 0 = any free port, -1 = off. */
  metricsPort: number;
  /** How long a gauge's SQL result is reused across scrapes (METRICS_CACHE_MS; 0 = every scrape reads). */
  metricsCacheMs: number;
  logLevel: string;
  /**
   * Port of the dev provider (fake SMS/SMTP/push keeping an inbox) this process starts when
   * NotificationService runs with no provider configured: 0 = any free port, -1 = off.
   */
  devInboxPort: number;
  drainTimeoutMs: number;
  /** Our public base URL (the gateway's), for callbacks the outside world makes: the simulated payment gateway's webhooks. */
  publicUrl: string | undefined;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

/** Parses and validates `env`; throws one ConfigError naming every bad value. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const production = env.NODE_ENV === "production";

  const noted = <T>(r: Setting<T>): T => {
    if (r.problem) problems.push(r.problem);
    return r.value;
  };
  const int = (name: string, def: number, min: number, max: number): number => noted(readInt(env, name, def, min, max));
  const flag = (name: string, def: boolean): boolean => {
    const raw = env[name];
    if (raw === undefined || raw === "") return def;
    if (raw === "true" || raw === "1") return true;
    if (raw === "false" || raw === "0") return false;
    problems.push(`${name}=${JSON.stringify(raw)} must be true or false`);
    return def;
  };
  const url = (name: string, protocols: string[]): string | undefined => noted(readUrl(env, name, protocols));
  const secret = (name: string): Uint8Array => noted(readSecret(env, name, production));

  let services: ServiceName[] = [...SERVICE_NAMES];
  let gateway = true;
  if (env.SERVICES !== undefined && env.SERVICES.trim() !== "" && env.SERVICES.trim() !== "all") {
    const names = env.SERVICES.split(",").map((s) => s.trim()).filter(Boolean);
    gateway = names.includes("gateway");
    services = [];
    for (const n of names) {
      if (n === "gateway") continue;
      if ((SERVICE_NAMES as readonly string[]).includes(n)) services.push(n as ServiceName);
      else problems.push(`SERVICES names unknown service "${n}" (known: ${SERVICE_NAMES.join(", ")}, gateway)`);
    }
  }

  const ports = {} as Record<ServiceName, number>;
  const urls = {} as Record<ServiceName, string>;
  const host = env.HOST ?? "127.0.0.1";
  for (const s of SERVICE_NAMES) {
    ports[s] = int(`${s.toUpperCase()}_PORT`, DEFAULT_PORTS[s], 0, 65535);
    urls[s] = url(`${s.toUpperCase()}_URL`, ["http:", "https:"]) ?? `http://127.0.0.1:${ports[s]}`;
  }

  const { databaseUrl, databaseDirectUrl, databases } = serviceDatabases(env, SERVICE_NAMES, services, production, problems);
  // Named statements collide on a pooler that hands a client another session each transaction.
  const anyPooled = Object.values(databases).some((d) => d?.pooled);
  const redisUrl = redisUrlFromEnv(env, problems);
  if (production && !redisUrl && !env.REDIS_URL && !env.REDIS_CLUSTER_NODES) problems.push("REDIS_URL (or REDIS_CLUSTER_NODES) is required when NODE_ENV=production");

  const logLevel = env.LOG_LEVEL ?? "info";
  if (!["fatal", "error", "warn", "info", "debug", "trace", "silent"].includes(logLevel)) {
    problems.push(`LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent`);
  }
  const tlsCertFile = env.TLS_CERT_FILE || undefined;
  const tlsKeyFile = env.TLS_KEY_FILE || undefined;
  if (!!tlsCertFile !== !!tlsKeyFile) problems.push("TLS_CERT_FILE and TLS_KEY_FILE must be set together");
  const resourceAttributes = parseResourceAttributes(env.OTEL_RESOURCE_ATTRIBUTES);
  problems.push(...resourceAttributes.problems);

  const cfg: Config = {
    env,
    production,
    services,
    gateway,
    gatewayPort: int("PORT", DEFAULT_PORTS.gateway, 0, 65535),
    ports,
    urls,
    host,
    databaseUrl,
    databaseDirectUrl,
    databases: databases as Record<ServiceName, ServiceDatabase | undefined>,
    pgPoolMax: int("PG_POOL_MAX", 10, 1, 200),
    pgNamedStatements: flag("PG_NAMED_STATEMENTS", !anyPooled),
    meshInProcess: flag("MESH_IN_PROCESS", true),
    meshResolveIntervalMs: int("MESH_RESOLVE_INTERVAL_MS", DEFAULT_MESH_RESOLVE_INTERVAL_MS, 0, 300_000),
    redisUrl,
    meshSecret: secret("MESH_SECRET"),
    jwtIssuer: env.JWT_ISSUER ?? "https://auth.fuel.local",
    jwtAudience: env.JWT_AUDIENCE ?? "fuel-clearinghouse",
    maxDeadlineMs: int("MAX_DEADLINE_MS", 30_000, 100, 300_000),
    defaultDeadlineMs: int("DEFAULT_DEADLINE_MS", 15_000, 100, 300_000),
    maxRequestBytes: int("MAX_REQUEST_BYTES", 16 * 1024 * 1024, 1024, 64 * 1024 * 1024),
    rateLimitPerMinute: int("RATE_LIMIT_PER_MINUTE", 600, 1, 1_000_000),
    corsOrigins: (env.CORS_ORIGINS ?? "*").split(",").map((s) => s.trim()).filter(Boolean),
    tlsCertFile,
    tlsKeyFile,
    otelEndpoint: url("OTEL_EXPORTER_OTLP_ENDPOINT", ["http:", "https:"]),
    otelResourceAttributes: resourceAttributes.attributes,
    otelServiceName: env.OTEL_SERVICE_NAME || undefined,
    metricsPort: int("METRICS_PORT", 9464, -1, 65535),
    metricsCacheMs: int("METRICS_CACHE_MS", 5_000, 0, 60_000),
    logLevel,
    devInboxPort: int("DEV_INBOX_PORT", production ? -1 : 8025, -1, 65535),
    drainTimeoutMs: int("DRAIN_TIMEOUT_MS", 10_000, 0, 120_000),
    publicUrl: url("PUBLIC_URL", ["http:", "https:"]),
  };
  if (cfg.meshResolveIntervalMs > 0 && cfg.meshResolveIntervalMs < 100) {
    problems.push("MESH_RESOLVE_INTERVAL_MS must be 0 (no client-side balancing) or at least 100 (a DNS lookup per call is too many)");
  }
  if (cfg.defaultDeadlineMs > cfg.maxDeadlineMs) problems.push("DEFAULT_DEADLINE_MS must not exceed MAX_DEADLINE_MS");
  if (problems.length > 0) throw new ConfigError(problems);
  return cfg;
}

/** A setting as read: its value (the default when it will not do) and, when it will not do, the problem naming the variable. */
export interface Setting<T> {
  value: T;
  problem?: string;
}

/** An integer setting: the default when unset, otherwise it must lie in [min, max]. */
export function readInt(env: Readonly<Env>, name: string, def: number, min: number, max: number): Setting<number> {
  const raw = env[name];
  if (raw === undefined || raw === "") return { value: def };
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) return { value: def, problem: `${name}=${JSON.stringify(raw)} must be an integer from ${min} to ${max}` };
  return { value: n };
}

/** A URL setting: undefined when unset; otherwise a URL with one of `protocols` (e.g. "https:"). */
export function readUrl(env: Readonly<Env>, name: string, protocols: string[]): Setting<string | undefined> {
  const raw = env[name];
  if (raw === undefined || raw === "") return { value: undefined };
  let protocol: string;
  try {
    protocol = new URL(raw).protocol;
  } catch {
    return { value: undefined, problem: `${name} is not a valid URL` };
  }
  return { value: raw, problem: protocols.includes(protocol) ? undefined : `${name} must use ${protocols.join(" or ")} (got ${protocol})` };
}

/**
 * One integer setting of a service module, read when the module starts: the default when
 * unset, otherwise it must lie in [min, max] or the start stops with a ConfigError naming
 * the variable.
 */
export function envInt(env: Readonly<Env>, name: string, def: number, min: number, max: number): number {
  const r = readInt(env, name, def, min, max);
  if (r.problem) throw new ConfigError([r.problem]);
  return r.value;
}

/**
 * A key setting: required in production; in development a per-process random value is
 * fine, because the embedded database is in memory and dies with the process. At least
 * 32 bytes, base64. `problem` names the variable when the value will not do.
 */
export function readSecret(env: Readonly<Env>, name: string, production: boolean): Setting<Uint8Array> {
  const raw = env[name];
  if (raw === undefined || raw === "") {
    return { value: randomBytes(32), problem: production ? `${name} is required when NODE_ENV=production (32+ random bytes, base64)` : undefined };
  }
  const bytes = Buffer.from(raw, "base64");
  return { value: new Uint8Array(bytes), problem: bytes.length < 32 ? `${name} must be at least 32 bytes, base64-encoded` : undefined };
}
