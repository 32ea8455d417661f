// The small key-value interface the platform needs from Redis: OTP codes, counters,
// idempotency records. Backed by a real Redis (ioredis) in deployments and tests, one
// server or a Redis Cluster (redis-url.ts), or by an in-process map when REDIS_URL is
// unset so `npm start` needs nothing but Node.
//
// On a cluster every command and script here touches one key, so it runs on whichever
// master holds that key's slot; keys that belong together carry one hash tag (`{…}`), so
// they share a slot (services/auth/otp-store.ts).
import { createRequire } from "node:module";
import type { Cluster, Redis as RedisClient } from "ioredis";
import { parseRedisUrl, type RedisTarget } from "./redis-url.js";

const require = createRequire(import.meta.url);

/** The ioredis client of a Kv: one server's, or a cluster's. */
export type RedisConnection = RedisClient | Cluster;

// Compare-and-act in one step on the server, so no other writer slips in between.
const RENEW_IF = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) else return 0 end`;
const DEL_IF = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end`;

export interface Kv {
  readonly kind: "redis" | "memory";
  /** The ioredis client when kind = redis (rate limiter, health): `isCluster` tells which kind. */
  readonly redis?: RedisConnection;
  get(key: string): Promise<string | null>;
  /** SET with a TTL; `mode` NX = only if absent, XX = only if present. True if written. */
  set(key: string, value: string, ttlMs: number, mode?: "NX" | "XX"): Promise<boolean>;
  /** Deletes; returns how many keys existed (so exactly one of racing deleters sees 1). */
  del(key: string): Promise<number>;
  /**
   * Sets a new TTL only while the key still holds `value`: an owner renews its lease
   * without reviving a key that expired or that another writer has taken since.
   */
  renewIf(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Deletes only while the key still holds `value` (an owner releases only its own lease). */
  delIf(key: string, value: string): Promise<boolean>;
  /** Atomically increments; the first increment sets the TTL. */
  incr(key: string, ttlMs: number): Promise<number>;
  /**
   * Null while commands can go at once; else what settles when they may (a cluster not yet,
   * or no longer, ready: a bounded wait, clusterReadiness). The methods here wait for it
   * themselves; a caller sending on `redis` directly (the rate limiter) waits for it first.
   */
  pending(): Promise<void> | null;
  close(): Promise<void>;
}

/** The longest wait between two attempts to reconnect to Redis (and a command's wait while it is away). */
export const RECONNECT_MAX_MS = 50;
/** How long a connection (a cluster's first one included) may take to open. */
const CONNECT_TIMEOUT_MS = 2_000;
/** A command sent on an open connection that gets no answer fails after this long. */
const COMMAND_TIMEOUT_MS = 5_000;
/**
 * Retries of one command on a cluster: a redirection to the master that now holds its slot
 * (MOVED, ASK), or a wait of RECONNECT_MAX_MS for a master that is away or a cluster
 * that is down to come back. Enough for a slot moving during resharding; few enough that a
 * command for an absent master fails within a few RECONNECT_MAX_MS.
 */
const CLUSTER_RETRIES_MAX = 3;
/**
 * While a cluster that was up reconnects, a command waits this long for it (the next
 * attempt comes within RECONNECT_MAX_MS), then fails, as a single server's command does.
 */
const CLUSTER_REJOIN_WAIT_MS = 2 * RECONNECT_MAX_MS;

// While Redis is away, a command waits for the next reconnect attempt and fails when that
// attempt fails (MaxRetriesPerRequestError: UNAVAILABLE to a caller, or the rate
// limiter's in-process count). Attempts come every RECONNECT_MAX_MS at most, so a command
// waits about that long while Redis is down (connectTimeoutMs when its host does not
// answer at all), and a restarted Redis is used again within it — a command sent just
// before it is back then succeeds.
const CONNECTION = {
  maxRetriesPerRequest: 1,
  connectTimeout: CONNECT_TIMEOUT_MS,
  commandTimeout: COMMAND_TIMEOUT_MS,
} as const;

export function createRedisKv(url: string): Kv {
  const target = parseRedisUrl(url);
  const redis = target.kind === "cluster" ? connectCluster(target) : connectServer(target.url);
  redis.on("error", () => undefined); // reconnects by itself; commands report failures
  const pending = target.kind === "cluster" ? clusterReadiness(redis as Cluster) : () => null;
  const send = <T>(op: () => Promise<T>): Promise<T> => {
    const wait = pending();
    return wait ? wait.then(op) : op();
  };
  return {
    kind: "redis",
    redis,
    pending,
    get: (key) => send(() => redis.get(key)),
    async set(key, value, ttlMs, mode) {
      const res = await send(() => (mode ? redis.set(key, value, "PX", ttlMs, mode as "NX") : redis.set(key, value, "PX", ttlMs)));
      return res === "OK";
    },
    del: (key) => send(() => redis.del(key)),
    async renewIf(key, value, ttlMs) {
      return (await send(() => redis.eval(RENEW_IF, 1, key, value, String(ttlMs)))) === 1;
    },
    async delIf(key, value) {
      return (await send(() => redis.eval(DEL_IF, 1, key, value))) === 1;
    },
    async incr(key, ttlMs) {
      // One key: on a cluster the transaction runs on that key's master.
      const [[, n]] = (await send(() => redis.multi().incr(key).pexpire(key, ttlMs, "NX").exec())) as [[null, number]];
      return n;
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

function connectServer(url: string): RedisClient {
  // require() after tracing starts, so the ioredis instrumentation sees every command.
  const { Redis } = require("ioredis") as typeof import("ioredis");
  return new Redis(url, {
    ...CONNECTION,
    retryStrategy: (times: number) => Math.min(times * 10, RECONNECT_MAX_MS),
    enableOfflineQueue: true,
    lazyConnect: false,
  });
}

function connectCluster(target: Extract<RedisTarget, { kind: "cluster" }>): Cluster {
  const { Cluster } = require("ioredis") as typeof import("ioredis");
  return new Cluster(target.nodes, {
    clusterRetryStrategy: (times: number) => Math.min(times * 10, RECONNECT_MAX_MS),
    // A cluster's offline queue waits for the whole cluster to come back, however long
    // that takes; a command must not. With it off, a command sent while the cluster is
    // not ready fails at once, and callers wait for readiness first, a bounded time
    // (clusterReadiness).
    enableOfflineQueue: false,
    maxRedirections: CLUSTER_RETRIES_MAX,
    retryDelayOnFailover: RECONNECT_MAX_MS,
    retryDelayOnClusterDown: RECONNECT_MAX_MS,
    retryDelayOnTryAgain: RECONNECT_MAX_MS,
    // Over TLS the certificates name the hosts: connect by name, not by resolved address.
    ...(target.tls ? { dnsLookup: (address: string, done: (err: null, address: string) => void) => done(null, address) } : {}),
    redisOptions: {
      ...CONNECTION,
      username: target.username,
      password: target.password,
      ...(target.tls ? { tls: {} } : {}),
    },
    lazyConnect: false,
  });
}

/**
 * Kv.pending of a cluster: null while it is ready; otherwise a wait for it to be, of at
 * most CONNECT_TIMEOUT_MS before its first connection (a new process's first commands)
 * and CLUSTER_REJOIN_WAIT_MS later. A command that still finds it not ready fails.
 */
function clusterReadiness(cluster: Cluster): () => Promise<void> | null {
  let everReady = false;
  let nextReady: Promise<void> | null = null;
  let markReady: () => void = () => undefined;
  cluster.on("ready", () => {
    everReady = true;
    nextReady = null;
    markReady();
  });
  const untilReady = (): Promise<void> =>
    (nextReady ??= new Promise<void>((resolve) => {
      markReady = resolve;
    }));
  return () => {
    if (cluster.status === "ready") return null;
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, everReady ? CLUSTER_REJOIN_WAIT_MS : CONNECT_TIMEOUT_MS);
    });
    return Promise.race([untilReady(), waited]).then(() => clearTimeout(timer));
  };
}

export function createMemoryKv(now: () => number = Date.now): Kv {
  const data = new Map<string, { value: string; expiresAt: number }>();
  const live = (key: string) => {
    const e = data.get(key);
    if (e && e.expiresAt <= now()) {
      data.delete(key);
      return undefined;
    }
    return e;
  };
  // Sweep expired keys now and then so a long-running dev process does not grow.
  const sweeper = setInterval(() => {
    const t = now();
    for (const [k, e] of data) if (e.expiresAt <= t) data.delete(k);
  }, 60_000);
  sweeper.unref();
  return {
    kind: "memory",
    async get(key) {
      return live(key)?.value ?? null;
    },
    async set(key, value, ttlMs, mode) {
      const exists = live(key) !== undefined;
      if ((mode === "NX" && exists) || (mode === "XX" && !exists)) return false;
      data.set(key, { value, expiresAt: now() + ttlMs });
      return true;
    },
    async del(key) {
      const existed = live(key) !== undefined;
      data.delete(key);
      return existed ? 1 : 0;
    },
    async renewIf(key, value, ttlMs) {
      const e = live(key);
      if (e?.value !== value) return false;
      e.expiresAt = now() + ttlMs;
      return true;
    },
    async delIf(key, value) {
      if (live(key)?.value !== value) return false;
      data.delete(key);
      return true;
    },
    pending: () => null,
    async incr(key, ttlMs) {
      const e = live(key);
      const n = (e ? Number(e.value) : 0) + 1;
      data.set(key, { value: String(n), expiresAt: e ? e.expiresAt : now() + ttlMs });
      return n;
    },
    async close() {
      clearInterval(sweeper);
      data.clear();
    },
  };
}
