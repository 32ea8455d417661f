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

export interface ServiceModule {
  name: ServiceName;
  /** The services this module serves (for health and reflection). */
  services: DescService[];
  routes(router: ConnectRouter, deps: ServiceDeps): void;
  /** Background work (outbox workers, sweepers); returns its stopper. */
  start?(deps: ServiceDeps): Promise<() => Promise<void>>;
  /**
   * Money-moving methods ("pkg.Service/Method") whose handler claims the idempotency key in
   * the same statement as its work and answers every retry from it: they skip the Redis layer.
   */
  guardedInPostgres?: readonly string[];
}
