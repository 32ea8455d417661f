// Rate limits on Redis (rate-limiter-flexible), or in memory without Redis. A limiter is
// a named budget of `points` per `durationS`; exceeding it is RESOURCE_EXHAUSTED with
// RetryInfo saying when to come back.
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import { resourceExhausted } from "./errors.js";
import type { Kv } from "./kv.js";
import { leaseSize, LeaseBook } from "./rate-lease.js";

export class RateLimits {
  private readonly limiters = new Map<string, RateLimiterAbstract>();
  private readonly leases: LeaseBook;
  constructor(private readonly kv: Kv, now: () => number = Date.now) {
    this.leases = new LeaseBook(now);
  }

  private limiter(name: string, points: number, durationS: number): RateLimiterAbstract {
    const id = `${name}:${points}:${durationS}`;
    let l = this.limiters.get(id);
    if (!l) {
      const opts = { keyPrefix: `rl:${name}`, points, duration: durationS };
      // While Redis is unreachable each process counts the budget on its own (the insurance
      // limiter, once the Redis client gives up on a command: kv.ts): the budget holds per
      // replica, so N replicas allow up to N times it until Redis is back.
      l = this.kv.kind === "redis" && this.kv.redis
        ? new RateLimiterRedis({ ...opts, storeClient: this.kv.redis, insuranceLimiter: new RateLimiterMemory(opts) })
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
      throw refusal(err, reason);
    }
  }

  /**
   * Spends one point, like `consume`, but takes points from Redis a slice at a time
   * (rate-lease.ts) and spends the slice here without a round trip. For the large
   * per-caller budgets every public call spends; small budgets (OTP, QR) get slices of
   * one, which is `consume` exactly.
   */
  async consumeLeased(name: string, key: string, points: number, durationS: number, reason = "RATE_LIMITED"): Promise<void> {
    const size = this.kv.kind === "redis" ? leaseSize(points) : 1;
    if (size === 1) return await this.consume(name, key, points, durationS, reason);
    const slot = `${name}:${points}:${durationS}:${key}`;
    if (this.leases.take(slot)) return;
    const limiter = this.limiter(name, points, durationS);
    try {
      const res = await limiter.consume(key, size);
      this.leases.grant(slot, size - 1, res.msBeforeNext);
      return;
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      // Fewer than a slice was left. Hand back what we could not have, keep the rest
      // (the last few points of the window), and refuse only when there was none.
      const left = points - (err.consumedPoints - size);
      if (left <= 0) throw refusal(err, reason);
      await limiter.reward(key, size - left);
      this.leases.grant(slot, left - 1, err.msBeforeNext);
    }
  }
}

function refusal(err: unknown, reason: string): unknown {
  if (err instanceof RateLimiterRes) return resourceExhausted(reason, "too many requests; retry later", Math.max(1, err.msBeforeNext));
  return err;
}
