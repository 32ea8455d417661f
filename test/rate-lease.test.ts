// Leased rate-limit points (platform/rate-lease.ts): the pure bookkeeping, and the
// budget in real Redis staying exact while processes spend slices of it locally.
import { randomUUID } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Code, ConnectError } from "@connectrpc/connect";
import { createMemoryKv, createRedisKv, type Kv } from "../platform/kv.js";
import { LeaseBook, LEASES_MAX, leaseSize } from "../platform/rate-lease.js";
import { RateLimits } from "../platform/ratelimit.js";
import { realRedis } from "./helpers/system.js";

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
  book.grant("a", 3, 500);
  assert.ok(book.take("a"));
  assert.ok(book.take("a"));
  assert.ok(book.take("a"));
  assert.not.ok(book.take("a"), "three points, three takes");
  book.grant("a", 3, 500);
  nowMs += 500;
  assert.not.ok(book.take("a"), "the window ended: the rest is not spent");
  assert.is(book.size, 0, "an ended lease is forgotten");
});

test("the book keeps at most LEASES_MAX callers", () => {
  const book = new LeaseBook(() => 0);
  for (let i = 0; i < LEASES_MAX + 25; i++) book.grant(`k${i}`, 5, 60_000);
  assert.is(book.size, LEASES_MAX);
  assert.ok(book.take(`k${LEASES_MAX + 24}`), "the newest is kept");
  assert.not.ok(book.take("k0"), "the oldest made room");
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
