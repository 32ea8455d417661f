// Boots domain services: shared infrastructure (database, key-value store, tokens), then
// for each service its migrations, its pool, its server with the standard interceptor
// chain, and its background workers.
import type { Config, ServiceName } from "./config.js";
import { createPool, type Pool } from "./db.js";
import { DatabaseProbe } from "./db-probe.js";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "./embedded.js";
import { enforceDeadline } from "./interceptors/deadline.js";
import { authenticate } from "./interceptors/authenticate.js";
import { idempotency } from "./interceptors/idempotency.js";
import { observe } from "./interceptors/observe.js";
import { rateLimit } from "./interceptors/rate-limit.js";
import { createMemoryKv, createRedisKv, type Kv } from "./kv.js";
import { log } from "./logger.js";
import { Mesh } from "./mesh.js";
import { migrate } from "./migrate.js";
import { RateLimits } from "./ratelimit.js";
import { startServer, type RunningServer } from "./server.js";
import type { ServiceDeps, ServiceModule } from "./service.js";
import { AccessTokenVerifier, ServiceTokens, type JwksSource } from "./tokens.js";
import { callInfoKey } from "./context.js";

export interface Infra {
  cfg: Config;
  databaseUrl: string;
  embedded: EmbeddedPostgres | null;
  kv: Kv;
  limits: RateLimits;
  now: () => Date;
  close(): Promise<void>;
}

export async function startInfra(cfg: Config, now: () => Date = () => new Date()): Promise<Infra> {
  let embedded: EmbeddedPostgres | null = null;
  let databaseUrl = cfg.databaseUrl;
  if (!databaseUrl) {
    embedded = await startEmbeddedPostgres(0, process.env.PGLITE_DIR || undefined);
    databaseUrl = embedded.url;
    log.info("DATABASE_URL unset: using embedded PGlite (in memory)");
  }
  const kv = cfg.redisUrl ? createRedisKv(cfg.redisUrl) : createMemoryKv();
  if (!cfg.redisUrl) log.info("REDIS_URL unset: using the in-process store");
  return {
    cfg,
    databaseUrl,
    embedded,
    kv,
    limits: new RateLimits(kv),
    now,
    async close() {
      await kv.close();
      await embedded?.stop();
    },
  };
}

/** What holds a service's health entries down while its database does not answer. */
export const DATABASE_DOWN = "database";

export interface RunningService extends RunningServer {
  deps: ServiceDeps;
}

export function serviceTokens(cfg: Config, name: string): ServiceTokens {
  return new ServiceTokens(cfg.meshSecret, name);
}

/** Migrates, connects and serves one service module. */
export async function bootService(mod: ServiceModule, infra: Infra, jwks: (mesh: Mesh) => JwksSource, port: number): Promise<RunningService> {
  const { cfg } = infra;
  await migrate(infra.databaseUrl, mod.name);
  // The embedded database runs one session: keep each pool tiny there.
  const pool: Pool = createPool({
    connectionString: infra.databaseUrl,
    max: infra.embedded ? 2 : cfg.pgPoolMax,
    application: mod.name,
    namedStatements: cfg.pgNamedStatements && !infra.embedded,
  });
  const tokens = serviceTokens(cfg, mod.name);
  const mesh = new Mesh(cfg.urls, tokens, "grpc", cfg.meshInProcess);
  const verifier = new AccessTokenVerifier(jwks(mesh), cfg.jwtIssuer, cfg.jwtAudience);
  const deps: ServiceDeps = { name: mod.name as ServiceName, cfg, pool, kv: infra.kv, mesh, limits: infra.limits, tokens, verifier, now: infra.now };
  const stopWorkers = mod.start ? await mod.start(deps) : async () => undefined;
  const server = await startServer({
    name: mod.name,
    host: cfg.host,
    port,
    services: mod.services,
    routes: (router) => mod.routes(router, deps),
    interceptors: [
      observe(mod.name),
      authenticate({ verifier, serviceTokens: tokens, defaultDeadlineMs: cfg.defaultDeadlineMs, maxDeadlineMs: cfg.maxDeadlineMs }),
      // Spends the caller's budget only for a call the gateway handed over in-process.
      rateLimit(infra.limits, cfg.rateLimitPerMinute, { onlyAtEdge: true }),
      enforceDeadline((req) => (req.contextValues as { get: (k: typeof callInfoKey) => { deadlineAt: number } | null }).get(callInfoKey)?.deadlineAt ?? Date.now() + cfg.defaultDeadlineMs),
      idempotency(infra.kv, mod.name, cfg.maxDeadlineMs + 5_000),
    ],
    maxRequestBytes: cfg.maxRequestBytes,
    drainTimeoutMs: cfg.drainTimeoutMs,
  });
  // The embedded database lives in this process: it cannot be unreachable on its own.
  const probe = infra.embedded ? null : new DatabaseProbe(infra.databaseUrl, mod.name, (up) => server.health.hold(DATABASE_DOWN, !up));
  probe?.start();
  return {
    ...server,
    deps,
    async close() {
      await probe?.stop();
      await server.close();
      await stopWorkers();
      await pool.end();
    },
  };
}
