// Rate limits on Redis (rate-limiter-flexible), or in memory without Redis. A limiter is
// a named budget of `points` per `durationS`; exceeding it is RESOURCE_EXHAUSTED with
// RetryInfo saying when to come back.
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import { resourceExhausted } from "./errors.js";
import type { Kv } from "./kv.js";

export class RateLimits {
  private readonly limiters = new Map<string, RateLimiterAbstract>();
  constructor(private readonly kv: Kv) {}

  private limiter(name: string, points: number, durationS: number): RateLimiterAbstract {
    const id = `${name}:${points}:${durationS}`;
    let l = this.limiters.get(id);
    if (!l) {
      const opts = { keyPrefix: `rl:${name}`, points, duration: durationS };
      l = this.kv.kind === "redis" && this.kv.redis
        ? new RateLimiterRedis({ ...opts, storeClient: this.kv.redis })
        : new RateLimiterMemory(opts);
      this.limiters.set(id, l);
    }
    return l;
  }

  /** Spends `cost` points of `name` for `key`; throws RESOURCE_EXHAUSTED when spent out. */
  async consume(name: string, key: string, points: number, durationS: number, reason = "RATE_LIMITED", cost = 1): Promise<void> {
    try {
      await this.limiter(name, points, durationS).consume(key, cost);
    } catch (err) {
      if (err instanceof RateLimiterRes) {
        throw resourceExhausted(reason, "too many requests; retry later", Math.max(1, err.msBeforeNext));
      }
      throw err;
    }
  }
}
