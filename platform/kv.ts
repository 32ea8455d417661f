// The small key-value interface the platform needs from Redis: OTP codes, counters,
// idempotency records. Backed by a real Redis (ioredis) in deployments and tests, or by
// an in-process map when REDIS_URL is unset so `npm start` needs nothing but Node.
import { createRequire } from "node:module";
import type { Redis as RedisClient } from "ioredis";

const require = createRequire(import.meta.url);

// Compare-and-act in one step on the server, so no other writer slips in between.
const RENEW_IF = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) else return 0 end`;
const DEL_IF = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end`;

export interface Kv {
  readonly kind: "redis" | "memory";
  /** The ioredis client when kind = redis (rate limiter, health). */
  readonly redis?: RedisClient;
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
  close(): Promise<void>;
}

/** The longest wait between two attempts to reconnect to Redis (and a command's wait while it is away). */
export const RECONNECT_MAX_MS = 50;

export function createRedisKv(url: string): Kv {
  // require() after tracing starts, so the ioredis instrumentation sees every command.
  const { Redis } = require("ioredis") as typeof import("ioredis");
  const redis = new Redis(url, {
    // While Redis is away, a command waits in the offline queue for the next reconnect
    // attempt and fails when that attempt fails (MaxRetriesPerRequestError: UNAVAILABLE
    // to a caller, or the rate limiter's in-process count). Attempts come every
    // RECONNECT_MAX_MS at most, so a command waits about that long while Redis is down
    // (connectTimeoutMs when its host does not answer at all), and a restarted Redis is
    // used again within it — a command sent just before it is back then succeeds.
    maxRetriesPerRequest: 1,
    retryStrategy: (times: number) => Math.min(times * 10, RECONNECT_MAX_MS),
    connectTimeout: 2_000,
    commandTimeout: 5_000,
    enableOfflineQueue: true,
    lazyConnect: false,
  });
  redis.on("error", () => undefined); // reconnects by itself; commands report failures
  return {
    kind: "redis",
    redis,
    get: (key) => redis.get(key),
    async set(key, value, ttlMs, mode) {
      const res = mode
        ? await redis.set(key, value, "PX", ttlMs, mode as "NX")
        : await redis.set(key, value, "PX", ttlMs);
      return res === "OK";
    },
    del: (key) => redis.del(key),
    async renewIf(key, value, ttlMs) {
      return (await redis.eval(RENEW_IF, 1, key, value, String(ttlMs))) === 1;
    },
    async delIf(key, value) {
      return (await redis.eval(DEL_IF, 1, key, value)) === 1;
    },
    async incr(key, ttlMs) {
      const [[, n]] = (await redis.multi().incr(key).pexpire(key, ttlMs, "NX").exec()) as [[null, number]];
      return n;
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
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
