// Boots domain services: shared infrastructure (database, key-value store, tokens), then
// for each service its migrations, its pool, its server with the standard interceptor
// chain, and its background workers. Each service works in its own database when it has
// one (`<NAME>_DATABASE_URL`), else in DATABASE_URL's, else in the embedded one; its
// migrations take a session of their own (node-pg-migrate's advisory lock), so they go
// to the direct URL, while the pool and probe use the pooled one.
import type { Config, ServiceName } from "./config.js";
import type { ResolvedDatabase } from "./database-config.js";
import { checkStatementTimeout, createPool, type Pool } from "./db.js";
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
  /** DATABASE_URL's database (its direct URL) or the embedded one; undefined when only `<NAME>_DATABASE_URL`s are set. */
  databaseUrl: string | undefined;
  /** The database a service of this process works in. */
  database(name: ServiceName): ResolvedDatabase;
  embedded: EmbeddedPostgres | null;
  kv: Kv;
  limits: RateLimits;
  now: () => Date;
  close(): Promise<void>;
}

export async function startInfra(cfg: Config, now: () => Date = () => new Date()): Promise<Infra> {
  let embedded: EmbeddedPostgres | null = null;
  // Configuration gives every running service a database or none; cfg.services may have
  // been narrowed since, so ask again.
  if (cfg.services.some((s) => !cfg.databases[s])) {
    embedded = await startEmbeddedPostgres(0, process.env.PGLITE_DIR || undefined);
    log.info("DATABASE_URL unset: using embedded PGlite (in memory)");
  }
  const databaseUrl = embedded?.url ?? cfg.databaseDirectUrl;
  const database = (name: ServiceName): ResolvedDatabase => {
    const own = cfg.databases[name];
    if (own) return { ...own, embedded: false };
    if (embedded) return { url: embedded.url, directUrl: embedded.url, pooled: false, embedded: true };
    throw new Error(`${name} has no database: set ${name.toUpperCase()}_DATABASE_URL or DATABASE_URL`);
  };
  const kv = cfg.redisUrl ? createRedisKv(cfg.redisUrl) : createMemoryKv();
  if (!cfg.redisUrl) log.info("REDIS_URL unset: using the in-process store");
  return {
    cfg,
    databaseUrl,
    database,
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
  const db = infra.database(mod.name);
  await migrate(db.directUrl, mod.name);
  // The embedded database runs one session: keep each pool tiny there.
  const pool: Pool = createPool({
    connectionString: db.url,
    max: db.embedded ? 2 : cfg.pgPoolMax,
    application: mod.name,
    namedStatements: cfg.pgNamedStatements && !db.embedded,
    pooled: db.pooled,
  });
  if (db.pooled) {
    try {
      await checkStatementTimeout(pool, mod.name);
    } catch (err) {
      await pool.end();
      throw err;
    }
  }
  const tokens = serviceTokens(cfg, mod.name);
  const mesh = new Mesh(cfg.urls, tokens, "grpc", cfg.meshInProcess, cfg.meshResolveIntervalMs);
  const verifier = new AccessTokenVerifier(jwks(mesh), cfg.jwtIssuer, cfg.jwtAudience);
  const base: ServiceDeps = { name: mod.name as ServiceName, cfg, database: db, pool, kv: infra.kv, mesh, limits: infra.limits, tokens, verifier, now: infra.now };
  // One context per running instance: routes and background work share it. A bad
  // setting of the service stops its start here, naming the setting.
  let deps: ServiceDeps;
  try {
    deps = mod.context ? mod.context(base) : base;
  } catch (err) {
    await pool.end();
    throw err;
  }
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
      idempotency(infra.kv, mod.name, cfg.maxDeadlineMs + 5_000, new Set(mod.guardedInPostgres ?? [])),
    ],
    maxRequestBytes: cfg.maxRequestBytes,
    drainTimeoutMs: cfg.drainTimeoutMs,
  });
  // The embedded database lives in this process: it cannot be unreachable on its own.
  const probe = db.embedded ? null : new DatabaseProbe(db, mod.name, (up) => server.health.hold(DATABASE_DOWN, !up));
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
