// Rate limits on Redis (rate-limiter-flexible), or in memory without Redis. A limiter is
// a named budget of `points` per `durationS`; exceeding it is RESOURCE_EXHAUSTED with
// RetryInfo saying when to come back.
import { Code, ConnectError } from "@connectrpc/connect";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import { resourceExhausted } from "./errors.js";
import type { Kv } from "./kv.js";
import { rateLimitRefusals } from "./metrics.js";
import { leaseAsk, leaseSize, LeaseBook, LeaseQueue, type Grant, type LeaseWait } from "./rate-lease.js";

/** When a caller with too many calls waiting for its budget (WAITERS_MAX) may retry. */
const CROWDED_RETRY_MS = 1_000;

export class RateLimits {
  private readonly limiters = new Map<string, RateLimiterAbstract>();
  private readonly queue: LeaseQueue;
  constructor(private readonly kv: Kv, private readonly now: () => number = Date.now) {
    this.queue = new LeaseQueue(new LeaseBook(now));
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

  /**
   * `limiter.consume` once the store can take commands: the limiter sends on the Redis
   * client itself, and a cluster that is not ready refuses them at once (kv.ts), which
   * would count a new process's first calls in the process instead.
   */
  private async spend(limiter: RateLimiterAbstract, key: string, points: number): Promise<RateLimiterRes> {
    const wait = this.kv.pending();
    if (wait) await wait;
    return await limiter.consume(key, points);
  }

  /** Spends `cost` points of `name` for `key`; throws RESOURCE_EXHAUSTED when spent out. */
  async consume(name: string, key: string, points: number, durationS: number, reason = "RATE_LIMITED", cost = 1): Promise<void> {
    try {
      await this.spend(this.limiter(name, points, durationS), key, cost);
    } catch (err) {
      throw counted(name, refusal(err, reason));
    }
  }

  /**
   * Spends one point, like `consume`, but takes points from Redis a slice at a time
   * (rate-lease.ts) and spends the slice here without a round trip. For the large
   * per-caller budgets every public call spends; small budgets (OTP, QR) get slices of
   * one, which is `consume` exactly. Calls of one caller arriving together share one
   * lease request, sized for all of them; a call waits for it no longer than `wait`
   * allows (its deadline), and every call waiting on a request that fails fails with it.
   */
  async consumeLeased(name: string, key: string, points: number, durationS: number, reason = "RATE_LIMITED", wait: LeaseWait = {}): Promise<void> {
    const size = this.kv.kind === "redis" ? leaseSize(points) : 1;
    const slot = `${name}:${points}:${durationS}:${key}`;
    if (size === 1 || !this.queue.has(slot)) return await this.consume(name, key, points, durationS, reason);
    try {
      await this.queue.spend(
        slot,
        (waiting) => this.lease(name, key, points, durationS, reason, leaseAsk(points, waiting)),
        wait,
        () => resourceExhausted(reason, "too many calls of this caller waiting for its budget; retry later", CROWDED_RETRY_MS),
      );
    } catch (err) {
      // Here, not where the lease is refused: every call waiting on that request is refused.
      throw counted(name, err);
    }
  }

  /**
   * Takes `ask` points of `key`'s budget from Redis. When fewer are left, takes what is
   * left and hands back the rest; refuses when none is.
   */
  private async lease(name: string, key: string, points: number, durationS: number, reason: string, ask: number): Promise<Grant> {
    const limiter = this.limiter(name, points, durationS);
    // The window ends msBeforeNext after Redis answered, so no earlier than that long
    // after the request left: the points are never spent past their window.
    const askedAt = this.now();
    try {
      const res = await this.spend(limiter, key, ask);
      return { points: ask, untilMs: askedAt + res.msBeforeNext };
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      const left = points - (err.consumedPoints - ask);
      if (left <= 0) throw refusal(err, reason);
      await limiter.reward(key, ask - left);
      return { points: left, untilMs: askedAt + err.msBeforeNext };
    }
  }
}

/** Counts a refused call on /metrics under its budget's name; passes any error on. */
function counted(budget: string, err: unknown): unknown {
  if (err instanceof ConnectError && err.code === Code.ResourceExhausted) rateLimitRefusals.inc({ budget });
  return err;
}

function refusal(err: unknown, reason: string): unknown {
  if (err instanceof RateLimiterRes) return resourceExhausted(reason, "too many requests; retry later", Math.max(1, err.msBeforeNext));
  return err;
}
