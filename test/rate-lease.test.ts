// Leased rate-limit points (platform/rate-lease.ts): the pure bookkeeping, and the
// budget in real Redis staying exact while processes spend slices of it locally.
import { randomUUID } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Code, ConnectError } from "@connectrpc/connect";
import { createMemoryKv, createRedisKv, type Kv } from "../platform/kv.js";
import { isClusterUrl } from "../platform/redis-url.js";
import { LEASE_ASK_MAX, leaseAsk, LeaseBook, LeaseQueue, LEASES_MAX, leaseSize, WAITERS_MAX, type Grant } from "../platform/rate-lease.js";
import { RateLimits } from "../platform/ratelimit.js";
import { realRedis } from "./helpers/system.js";
import { TcpProxy, viaProxy } from "./helpers/tcp-proxy.js";

const test = suite("rate-limit leases");

test("a slice is 1 % of the budget, at least 1 and at most 50", () => {
  assert.is(leaseSize(5), 1);
  assert.is(leaseSize(199), 1);
  assert.is(leaseSize(600), 6);
  assert.is(leaseSize(1_000_000), 50);
});

test("a lease spends exactly its points, and none after its window", () => {
  let nowMs = 1_000;
  const book = new LeaseBook(() => nowMs);
  assert.not.ok(book.take("a"), "nothing leased yet");
  book.grant("a", 3, nowMs + 500);
  assert.ok(book.take("a"));
  assert.ok(book.take("a"));
  assert.ok(book.take("a"));
  assert.not.ok(book.take("a"), "three points, three takes");
  book.grant("a", 3, nowMs + 500);
  nowMs += 500;
  assert.not.ok(book.take("a"), "the window ended: the rest is not spent");
  assert.is(book.size, 0, "an ended lease is forgotten");
  book.grant("a", 3, nowMs);
  assert.is(book.left("a"), 0, "points whose window already ended are not taken in");
});

test("points granted while some are held add up, and end with the earlier window", () => {
  let nowMs = 0;
  const book = new LeaseBook(() => nowMs);
  book.grant("a", 4, 60_000);
  assert.ok(book.take("a"));
  book.grant("a", 6, 60_010); // the same window, its end measured a little later
  assert.is(book.left("a"), 9, "3 left + 6 granted: a grant adds, it does not replace");
  nowMs = 60_000;
  assert.not.ok(book.take("a"), "the sum ends when the earlier grant's window ends");
});

test("a request asks for a slice, or one point per waiting call, at most LEASE_ASK_MAX and the budget", () => {
  assert.is(leaseAsk(600, 1), 6, "one call: a slice");
  assert.is(leaseAsk(600, 6), 6);
  assert.is(leaseAsk(600, 44), 44, "44 waiting: 44 points, one round trip");
  assert.is(leaseAsk(600, 5_000), LEASE_ASK_MAX);
  assert.is(leaseAsk(1_000_000, 3), 50, "the largest slice is the cap too");
  assert.is(leaseAsk(30, 5_000), 30, "never more than the budget");
});

test("the book keeps at most LEASES_MAX callers", () => {
  const book = new LeaseBook(() => 0);
  for (let i = 0; i < LEASES_MAX + 25; i++) book.grant(`k${i}`, 5, 60_000);
  assert.is(book.size, LEASES_MAX);
  assert.ok(book.take(`k${LEASES_MAX + 24}`), "the newest is kept");
  assert.not.ok(book.take("k0"), "the oldest made room");
});

/** A lease request the test answers by hand, recording how many calls waited on each. */
class Requests {
  asked: number[] = [];
  private pending: Array<{ resolve: (g: Grant) => void; reject: (e: unknown) => void }> = [];
  readonly request = (waiting: number) =>
    new Promise<Grant>((resolve, reject) => {
      this.asked.push(waiting);
      this.pending.push({ resolve, reject });
    });
  answer(points: number) {
    this.pending.shift()!.resolve({ points, untilMs: Date.now() + 60_000 });
  }
  fail(err: unknown) {
    this.pending.shift()!.reject(err);
  }
  get open() {
    return this.pending.length;
  }
}
const tick = () => new Promise((r) => setImmediate(r));
const crowded = () => new ConnectError("crowded", Code.ResourceExhausted);
const settle = (ps: Promise<void>[]) => Promise.allSettled(ps);

test("calls arriving together share one request, which asks for all of them", async () => {
  const queue = new LeaseQueue(new LeaseBook());
  const req = new Requests();
  const calls = Array.from({ length: 50 }, () => queue.spend("a", req.request, {}, crowded));
  await tick();
  assert.equal(req.asked, [50], "one request, knowing 50 calls wait");
  req.answer(50);
  const out = await settle(calls);
  assert.ok(out.every((o) => o.status === "fulfilled"), "all 50 served by the one request");
  assert.is(queue.waitingOn("a"), 0);
});

test("calls left over by a short grant wait for the next request, sized for them", async () => {
  const queue = new LeaseQueue(new LeaseBook());
  const req = new Requests();
  const first = Array.from({ length: 10 }, () => queue.spend("a", req.request, {}, crowded));
  await tick();
  const later = Array.from({ length: 30 }, () => queue.spend("a", req.request, {}, crowded));
  assert.is(req.open, 1, "calls arriving during a request wait for it; no second request");
  req.answer(6); // the budget had 6 left of what was asked
  await tick();
  assert.equal(req.asked, [10, 34], "the 34 calls not served asked again, in one request");
  req.answer(34);
  const out = await settle([...first, ...later]);
  assert.ok(out.every((o) => o.status === "fulfilled"));
});

test("a failed request fails every call waiting on it, the same way, and the next call starts afresh", async () => {
  const queue = new LeaseQueue(new LeaseBook());
  const req = new Requests();
  const calls = Array.from({ length: 20 }, () => queue.spend("a", req.request, {}, crowded));
  await tick();
  const down = new ConnectError("store unavailable", Code.Unavailable);
  req.fail(down);
  const out = await settle(calls);
  assert.ok(out.every((o) => o.status === "rejected" && o.reason === down), "each waiting call got the request's error");
  assert.is(queue.waitingOn("a"), 0, "nobody is left waiting");
  const next = queue.spend("a", req.request, {}, crowded);
  await tick();
  assert.equal(req.asked, [20, 1], "a new request, not the failed one");
  req.answer(6);
  await next;
});

test("a call waits no longer than its deadline or its cancellation; the request's points stay for the next call", async () => {
  const book = new LeaseBook();
  const queue = new LeaseQueue(book);
  const req = new Requests();
  const cancel = new AbortController();
  const started = performance.now();
  const failure = (p: Promise<void>) => p.then(() => null, (e: unknown) => ConnectError.from(e));
  const late = failure(queue.spend("a", req.request, { deadlineAt: Date.now() + 100 }, crowded));
  const cancelled = failure(queue.spend("a", req.request, { signal: cancel.signal }, crowded));
  const patient = queue.spend("a", req.request, {}, crowded);
  cancel.abort(new ConnectError("cancelled by the client", Code.Canceled));
  const err = await late;
  const ms = performance.now() - started;
  assert.is(err?.code, Code.DeadlineExceeded);
  assert.ok(ms >= 95 && ms < 500, `left after ${ms.toFixed(0)} ms`);
  assert.is((await cancelled)?.code, Code.Canceled);
  assert.is(queue.waitingOn("a"), 1, "only the call without a deadline still waits");
  req.answer(6);
  await patient;
  assert.is(book.left("a"), 5, "the points asked for the calls that left are held for the next");
});

test("at most WAITERS_MAX calls of one caller wait; more are refused at once", async () => {
  const queue = new LeaseQueue(new LeaseBook());
  const req = new Requests();
  const calls = Array.from({ length: WAITERS_MAX }, () => queue.spend("a", req.request, {}, crowded));
  const over = await queue.spend("a", req.request, {}, crowded).then(() => null, (e: unknown) => ConnectError.from(e));
  assert.is(over?.code, Code.ResourceExhausted);
  await tick();
  assert.equal(req.asked, [WAITERS_MAX]);
  req.answer(LEASE_ASK_MAX);
  // The rest ask again, LEASE_ASK_MAX at a time.
  for (let i = 1; i < WAITERS_MAX / LEASE_ASK_MAX; i++) {
    await tick();
    req.answer(LEASE_ASK_MAX);
  }
  const out = await settle(calls);
  assert.ok(out.every((o) => o.status === "fulfilled"));
  assert.is(req.asked.length, WAITERS_MAX / LEASE_ASK_MAX, "a thousand calls, twenty requests");
});

let kvs: Kv[] = [];
const redisKv = () => {
  const kv = createRedisKv(process.env.REDIS_URL!);
  kvs.push(kv);
  return kv;
};
test.after.each(async () => {
  for (const kv of kvs) await kv.close();
  kvs = [];
});

const counter = async (kv: Kv, name: string, key: string) => Number((await kv.redis!.get(`rl:${name}:${key}`)) ?? 0);

/** True when `p` is refused with RESOURCE_EXHAUSTED. */
const refused = async (p: Promise<unknown>) => {
  try {
    await p;
    return false;
  } catch (err) {
    assert.is(ConnectError.from(err).code, Code.ResourceExhausted);
    return true;
  }
};

test("without Redis, leased spending is plain spending: exact", async () => {
  const limits = new RateLimits(createMemoryKv());
  const name = `lease-${randomUUID()}`;
  for (let i = 0; i < 1_000; i++) await limits.consumeLeased(name, "caller", 1_000, 60);
  assert.ok(await refused(limits.consumeLeased(name, "caller", 1_000, 60)), "the 1001st call is refused");
});

// The rest needs a real Redis (CI always has one): only there are points leased.
if (realRedis()) {

  test("a slice is one round trip: ten calls take one slice of ten from Redis", async () => {
    const kv = redisKv();
    const limits = new RateLimits(kv);
    const name = `lease-${randomUUID()}`;
    for (let i = 0; i < 10; i++) await limits.consumeLeased(name, "caller", 1_000, 60);
    assert.is(await counter(kv, name, "caller"), 10, "one INCRBY of 10, not ten of 1");
    await limits.consumeLeased(name, "caller", 1_000, 60);
    assert.is(await counter(kv, name, "caller"), 20, "the eleventh call took the next slice");
  });

  test("two processes leasing one budget never grant more than it, and lose at most a slice each", async () => {
    const a = new RateLimits(redisKv());
    const b = new RateLimits(redisKv());
    const name = `lease-${randomUUID()}`;
    const budget = 1_000; // slices of 10
    let granted = 0;
    const open = { a: true, b: true };
    for (let i = 0; open.a || open.b; i++) {
      const side = (i * 7919) % 3 === 0 ? "b" : "a"; // an irregular interleaving
      if (!open[side]) continue;
      try {
        await (side === "a" ? a : b).consumeLeased(name, "caller", budget, 60);
        granted++;
      } catch (err) {
        assert.is(ConnectError.from(err).code, Code.ResourceExhausted);
        open[side] = false;
      }
      if (i > 5 * budget) throw new Error("the budget never ran out");
    }
    assert.ok(granted <= budget, `granted ${granted} of a budget of ${budget}`);
    assert.ok(granted >= budget - 2 * (leaseSize(budget) - 1), `granted only ${granted}: more than a slice per process was lost`);
  });

  test("fifty calls arriving together take one request of fifty from Redis, not fifty slices", async () => {
    const kv = redisKv();
    const limits = new RateLimits(kv);
    const name = `lease-${randomUUID()}`;
    await Promise.all(Array.from({ length: 50 }, () => limits.consumeLeased(name, "caller", 600, 60)));
    assert.is(await counter(kv, name, "caller"), 50, "one INCRBY of 50 (each call leasing its own slice of 6 would count 300)");
    for (let i = 0; i < 6; i++) await limits.consumeLeased(name, "caller", 600, 60);
    assert.is(await counter(kv, name, "caller"), 56, "a lone call after them takes a slice");
  });

  test("two processes, fifty calls in flight each: never more than the budget, at most a partial slice lost each", async () => {
    const budget = 600; // slices of 6
    const sides = [new RateLimits(redisKv()), new RateLimits(redisKv())];
    const name = `lease-${randomUUID()}`;
    let granted = 0;
    let refused = false;
    const worker = async (limits: RateLimits) => {
      while (!refused) {
        try {
          await limits.consumeLeased(name, "caller", budget, 60);
          granted++;
        } catch (err) {
          assert.is(ConnectError.from(err).code, Code.ResourceExhausted);
          refused = true;
        }
        if (granted > budget) throw new Error(`granted ${granted} of a budget of ${budget}`);
      }
    };
    await Promise.all(Array.from({ length: 100 }, (_, i) => worker(sides[i % 2]!)));
    assert.ok(granted <= budget, `granted ${granted} of a budget of ${budget}`);
    assert.ok(granted >= budget - 2 * (leaseSize(budget) - 1), `granted only ${granted}: more than a partial slice per process was lost`);
  });

  // Taking the store away from one client needs one server behind a TCP proxy: a cluster's
  // client learns every master's own address from the cluster and goes around a proxy.
  // Against a cluster, the redis-cluster suite takes a master away instead.
  if (isClusterUrl(process.env.REDIS_URL!)) {
    console.log("  (rate lease: cutting Redis needs a single server behind a proxy; against a cluster see redis-cluster.test.ts)");
  } else {
    /** A RateLimits on a Redis reached through a proxy the test can cut. */
    const throughProxy = async () => {
      const target = new URL(process.env.REDIS_URL!);
      const proxy = await TcpProxy.start(target.hostname, Number(target.port || 6379));
      const kv = createRedisKv(viaProxy(process.env.REDIS_URL!, proxy));
      kvs.push(kv);
      const limits = new RateLimits(kv);
      await limits.consume(`lease-${randomUUID()}`, "warm", 600, 60); // connected and ready
      // The client goes before the proxy: left behind, it would keep trying to reconnect.
      const close = async () => {
        await kv.close();
        await proxy.close();
      };
      return { proxy, limits, close };
    };

    test("Redis lost under a request: the calls waiting on it leave at their deadline, not the store's timeout", async () => {
      const { proxy, limits, close } = await throughProxy();
      try {
        const name = `lease-${randomUUID()}`;
        const started = performance.now();
        const calls = Array.from({ length: 20 }, () =>
          limits.consumeLeased(name, "caller", 600, 60, "RATE_LIMITED", { deadlineAt: Date.now() + 200 }).then(() => null, (e: unknown) => ConnectError.from(e)));
        proxy.cut(); // the request is on a connection that is going away: it waits for the store's 5 s command timeout
        const errs = await Promise.all(calls);
        const ms = performance.now() - started;
        assert.ok(errs.every((e) => e?.code === Code.DeadlineExceeded), errs.map((e) => e?.message).join(", "));
        assert.ok(ms < 1_000, `the calls left after ${ms.toFixed(0)} ms`);
        // Let the client reconnect and finish the request rather than wait out its timeout.
        proxy.restore();
        await limits.consumeLeased(name, "caller", 600, 60);
      } finally {
        await close();
      }
    });

    test("Redis away: every call waiting on a request gets its one outcome, and the next call after Redis is back leases afresh", async () => {
      const { proxy, limits, close } = await throughProxy();
      const kv = redisKv();
      try {
        const name = `lease-${randomUUID()}`;
        proxy.cut();
        await new Promise((r) => setTimeout(r, 50)); // the client sees the connection close
        const out = await Promise.allSettled(Array.from({ length: 20 }, () => limits.consumeLeased(name, "caller", 600, 60)));
        const outcomes = new Set(out.map((o) => (o.status === "fulfilled" ? "served" : ConnectError.from(o.reason).message)));
        assert.is(outcomes.size, 1, `one request, one outcome: ${[...outcomes].join(" | ")}`);
        assert.is(await counter(kv, name, "caller"), 0, "nothing reached Redis");
        proxy.restore();
        for (let i = 0; ; i++) {
          await limits.consume(name, "probe", 600, 60);
          if (await counter(kv, name, "probe")) break; // counted in Redis, not in the process
          assert.ok(i < 100, "the client reconnected");
          await new Promise((r) => setTimeout(r, 20));
        }
        // A request or a waiting call left behind would hold the slot.
        await limits.consumeLeased(name, "caller", 600, 60);
        assert.is(await counter(kv, name, "caller"), 6, "the next call took a slice from Redis");
      } finally {
        await close();
      }
    });
  }

  test("the last points of a window are granted, not lost to a slice that no longer fits", async () => {
    const kv = redisKv();
    const limits = new RateLimits(kv);
    const name = `lease-${randomUUID()}`;
    await limits.consume(name, "caller", 1_000, 60, "RATE_LIMITED", 995);
    for (let i = 0; i < 5; i++) await limits.consumeLeased(name, "caller", 1_000, 60);
    assert.is(await counter(kv, name, "caller"), 1_000, "the slice that did not fit was handed back down to the budget");
    assert.ok(await refused(limits.consumeLeased(name, "caller", 1_000, 60)), "the 1001st call is refused");
  });

  test("a slice never outlives the window it was taken in", async () => {
    const kv = redisKv();
    const limits = new RateLimits(kv);
    const name = `lease-${randomUUID()}`;
    await limits.consumeLeased(name, "caller", 200, 1); // a slice of 2, one point left here
    await new Promise((r) => setTimeout(r, 1_100));
    assert.is(await counter(kv, name, "caller"), 0, "the window ended in Redis");
    await limits.consumeLeased(name, "caller", 200, 1);
    assert.is(await counter(kv, name, "caller"), 2, "the call took a new slice instead of the old window's leftover");
  });
}

test.run();
