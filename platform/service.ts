// What a domain service module looks like to the runtime, and what it is given.
import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import type { Config, ServiceName } from "./config.js";
import type { ResolvedDatabase } from "./database-config.js";
import type { Pool } from "./db.js";
import type { Kv } from "./kv.js";
import type { Mesh } from "./mesh.js";
import type { RateLimits } from "./ratelimit.js";
import type { AccessTokenVerifier, ServiceTokens } from "./tokens.js";

export interface ServiceDeps {
  name: ServiceName;
  cfg: Config;
  /** Where this service's data lives: its pool's URL, the direct URL for sessions, embedded or not. */
  database: ResolvedDatabase;
  pool: Pool;
  kv: Kv;
  mesh: Mesh;
  limits: RateLimits;
  tokens: ServiceTokens;
  verifier: AccessTokenVerifier;
  /** Injectable clock: tests move time instead of sleeping. */
  now: () => Date;
}

/**
 * A domain service. `C` is what its handlers and background work share: the deps plus
 * what the service builds from them once per running instance in its context.ts (its
 * settings, read and checked once; its outbox relay; caches), so nothing of an instance
 * lives in a module-level variable and two instances in one process never share it.
 */
export interface ServiceModule<C extends ServiceDeps = ServiceDeps> {
  name: ServiceName;
  /** The services this module serves (for health and reflection). */
  services: DescService[];
  /** Builds the instance's context (context.ts); without it, handlers get the deps. */
  context?(deps: ServiceDeps): C;
  routes(router: ConnectRouter, ctx: C): void;
  /** Background work (outbox workers, sweepers); returns its stopper. */
  start?(ctx: C): Promise<() => Promise<void>>;
  /**
   * Money-moving methods ("pkg.Service/Method") whose handler claims the idempotency key in
   * the same statement as its work and answers every retry from it: they skip the Redis layer.
   */
  guardedInPostgres?: readonly string[];
}

/** A module as the runtime lists them: its context type is checked where it is written, and the runtime hands `routes` and `start` the one `context` built. */
export function serviceModule<C extends ServiceDeps>(m: ServiceModule<C>): ServiceModule {
  return m as unknown as ServiceModule;
}
