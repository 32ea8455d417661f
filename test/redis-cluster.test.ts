// The platform on a real Redis Cluster of the suite's own (3 masters on loopback, started
// by test/helpers/redis-cluster.ts): how REDIS_URL / REDIS_CLUSTER_NODES name one; OTP,
// rate-limit and idempotency keys landing on every master and working there (a phone's
// keys in one slot, by their hash tag); and what a command does when a master, or the
// whole cluster, is away, and once it is back.
import { randomBytes, randomUUID } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Code, ConnectError } from "@connectrpc/connect";
import { Redis } from "ioredis";
import { Role } from "../gen/fuel/common/v1/common_pb.js";
import { ConfigError, loadConfig } from "../platform/config.js";
import { classifyInfrastructure } from "../platform/errors.js";
import { createRedisKv, type Kv } from "../platform/kv.js";
import { RateLimits } from "../platform/ratelimit.js";
import { parseRedisUrl, REDIS_CLUSTER_NODES_MAX } from "../platform/redis-url.js";
import { otpKeys, OtpStore } from "../services/auth/otp-store.js";
import { postJson } from "./helpers/clients.js";
import { clusterUnavailable, PrivateRedisCluster } from "./helpers/redis-cluster.js";
import { keysEverywhere } from "./helpers/redis-keys.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";

const test = suite("redis cluster");

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
};

test("REDIS_URL redis+cluster:// or REDIS_CLUSTER_NODES name a cluster; every mistake is named", () => {
  assert.is(loadConfig({ REDIS_URL: "redis+cluster://10.0.0.1:7000,10.0.0.2:7001" }).redisUrl, "redis+cluster://10.0.0.1:7000,10.0.0.2:7001");
  assert.is(loadConfig({ REDIS_CLUSTER_NODES: " redis-0.redis:6379, redis-1.redis:6379 ,[fd00::1]:7000" }).redisUrl,
    "redis+cluster://redis-0.redis:6379,redis-1.redis:6379,[fd00::1]:7000");
  assert.equal(parseRedisUrl("rediss+cluster://app:p%40ss@cache.internal:6380,cache-2.internal"), {
    kind: "cluster",
    nodes: [{ host: "cache.internal", port: 6380 }, { host: "cache-2.internal", port: 6379 }],
    tls: true,
    username: "app",
    password: "p@ss",
  });
  assert.equal(parseRedisUrl("redis://127.0.0.1:6379/2"), { kind: "single", url: "redis://127.0.0.1:6379/2" });

  const bad: Array<[Record<string, string>, RegExp]> = [
    [{ REDIS_URL: "redis+cluster://a:7000", REDIS_CLUSTER_NODES: "a:7000" }, /REDIS_URL or REDIS_CLUSTER_NODES, not both/],
    [{ REDIS_CLUSTER_NODES: "a:7000,b:99999" }, /^REDIS_CLUSTER_NODES has a node "b:99999" whose port is not from 1 to 65535$/],
    [{ REDIS_CLUSTER_NODES: "a:7000,b c:1" }, /^REDIS_CLUSTER_NODES has a node "b c:1" that is not host:port$/],
    [{ REDIS_CLUSTER_NODES: " , " }, /^REDIS_CLUSTER_NODES names no node/],
    [{ REDIS_CLUSTER_NODES: Array.from({ length: REDIS_CLUSTER_NODES_MAX + 1 }, (_, i) => `n${i}:7000`).join(",") }, /at most 64$/],
    [{ REDIS_URL: "redis+cluster://" }, /^REDIS_URL names no node/],
    [{ REDIS_URL: "redis+cluster://a:7000/3" }, /^REDIS_URL must not name a database/],
    [{ REDIS_URL: "http://a:7000" }, /^REDIS_URL must use redis:, rediss:, redis\+cluster: or rediss\+cluster: \(got http:\)$/],
    [{ REDIS_URL: "not a url" }, /^REDIS_URL is not a valid URL$/],
  ];
  for (const [env, re] of bad) {
    const problems = problemsOf(env);
    assert.ok(problems.some((p) => re.test(p)), `${JSON.stringify(env).slice(0, 80)} → ${JSON.stringify(problems)}`);
  }
  // A password never appears in a message about the URL it came in.
  const secret = problemsOf({ REDIS_URL: "redis+cluster://app:hunter2secret@a:70000" });
  assert.ok(secret.length === 1 && !secret[0]!.includes("hunter2secret"), secret.join());
  assert.ok(problemsOf({ NODE_ENV: "production" }).some((p) => p.startsWith("REDIS_URL (or REDIS_CLUSTER_NODES) is required")));
});

const why = clusterUnavailable();
if (why) {
  console.log(`  (redis cluster: ${why}, so no cluster can start here; CI installs redis-server and redis-cli)`);
} else {
  let cluster: PrivateRedisCluster;
  let kv: Kv;
  let redis: import("ioredis").Cluster;
  const hmacKey = randomBytes(32);
  let store: OtpStore;
  /** Clients a test opened, closed after it. */
  let opened: Kv[] = [];
  const clusterKv = () => {
    const k = createRedisKv(cluster.url);
    opened.push(k);
    return k;
  };

  test.before(async () => {
    cluster = await PrivateRedisCluster.create(3);
    kv = createRedisKv(cluster.url);
    redis = kv.redis as import("ioredis").Cluster;
    store = new OtpStore(kv, hmacKey, () => new Date());
  });
  test.after.each(async () => {
    for (const k of opened) await k.close();
    opened = [];
  });
  test.after(async () => {
    await kv?.close();
    await cluster?.destroy();
  });

  const slotOf = async (key: string) => Number(await redis.cluster("KEYSLOT", key));
  const masterOf = async (key: string) => await cluster.portOfSlot(await slotOf(key));
  /** A value made by `make` whose key (by `keyOf`) lands on each master: port → value. */
  const onEveryMaster = async <T>(make: () => T, keyOf: (v: T) => string): Promise<Map<number, T>> => {
    const found = new Map<number, T>();
    for (let i = 0; found.size < cluster.ports.length; i++) {
      assert.ok(i < 1_000, "keys never reached every master");
      const v = make();
      const port = await masterOf(keyOf(v));
      if (!found.has(port)) found.set(port, v);
    }
    return found;
  };
  /** The value of `key` read from the master on `port` itself, not through the cluster client. */
  const onNode = async (port: number, key: string) => {
    const node = new Redis(port, "127.0.0.1");
    try {
      return await node.get(key);
    } finally {
      node.disconnect();
    }
  };
  const newPhone = () => `+23480${String(Math.floor(Math.random() * 1e8)).padStart(8, "0")}`;

  test("a new client's first commands wait for the cluster's first connection; the first limit counts in Redis", async () => {
    // A cluster refuses commands until its slot map is in (no offline queue: kv.ts), so
    // without the wait these would fail, and the limit would count in the process.
    const key = `first-${randomUUID()}`;
    assert.ok(await clusterKv().set(key, "1", 10_000));
    const limits = new RateLimits(clusterKv());
    await limits.consume("cluster-first", key, 5, 60);
    assert.is(await kv.get(`rl:cluster-first:${key}`), "1", "counted in the cluster");
  });

  test("a phone's OTP keys share one slot, phones spread over every master, and logins work on each", async () => {
    const phones = await onEveryMaster(newPhone, (phone) => otpKeys(store.phoneKey(phone)).record);
    for (const [port, phone] of phones) {
      const pk = store.phoneKey(phone);
      const keys = otpKeys(pk);
      const id = randomUUID();
      const slots = new Set(await Promise.all([keys.record, keys.live(id), keys.tries(id), keys.last].map(slotOf)));
      assert.is(slots.size, 1, `every key of one phone in one slot: ${[...slots]}`);

      const code = await store.issue(pk);
      const wrong = code === "000000" ? "000001" : "000000";
      assert.equal(await store.check(pk, wrong), { ok: false, outcome: "mismatch" });
      const hit = await store.check(pk, code);
      assert.ok(hit.ok, `the right code on master ${port}`);
      assert.ok(await onNode(port, keys.record), `the record lives on master ${port}`);
      assert.ok(await store.consume(pk, hit.ok ? hit.id : ""), "the first login wins");
      assert.not.ok(await store.consume(pk, hit.ok ? hit.id : ""), "the code is spent");
    }
    // The tag is what lets one script touch several keys of a phone; across phones on two
    // masters the cluster refuses it.
    const [a, b] = [...phones.values()].map((p) => otpKeys(store.phoneKey(p)));
    const both = "return redis.call('EXISTS', KEYS[1], KEYS[2])";
    assert.is(await redis.eval(both, 2, a!.record, a!.last), 1, "after the login the cooldown is left, the record is not");
    const cross = await redis.eval(both, 2, a!.record, b!.record).then(() => null, (e: Error) => e.message);
    assert.match(cross ?? "", /^CROSSSLOT/, "keys of two masters in one script");
  });

  test("rate limits on every master: a budget is exact, leased or not, across two clients", async () => {
    const name = `cluster-${randomUUID()}`;
    const keys = await onEveryMaster(() => randomUUID(), (k) => `rl:${name}:${k}`);
    const [a, b] = [new RateLimits(clusterKv()), new RateLimits(clusterKv())];
    for (const [port, key] of keys) {
      let granted = 0;
      let refused = 0;
      await Promise.all(Array.from({ length: 700 }, (_, i) =>
        (i % 2 ? a : b).consumeLeased(name, key, 600, 60).then(() => granted++, (e: unknown) => {
          assert.is(ConnectError.from(e).code, Code.ResourceExhausted);
          refused++;
        })));
      assert.ok(granted <= 600 && granted >= 600 - 2 * 5, `master ${port}: granted ${granted} of 600`);
      assert.is(granted + refused, 700);
      assert.ok(Number(await onNode(port, `rl:${name}:${key}`)) >= granted, `the budget is counted on master ${port}`);
    }
  });

  test("idempotency through the gateway: one caller's keys land on every master, and each replays", async () => {
    let sys: TestSystem | undefined;
    try {
      sys = await startTestSystem({ env: { REDIS_URL: cluster.url }, services: ["auth", "kyc"] });
      const who = principal(Role.SYSTEM_ADMIN);
      const token = await mintAccessToken(sys, who);
      const slot = (key: string) => `idem:kyc:fuel.kyc.v1.KycService/CreateBank:${who.subjectId}:${key}`;
      const keys = await onEveryMaster(() => randomUUID(), (k) => slot(k));
      for (const [port, key] of keys) {
        const code = `CL${randomBytes(5).toString("hex").toUpperCase()}`;
        const call = () => postJson(sys!.gatewayUrl, "fuel.kyc.v1.KycService/CreateBank", { name: `Bank ${code}`, code, currency: "NGN" },
          { authorization: `Bearer ${token}`, "idempotency-key": key });
        const first = await call();
        assert.is(first.status, 200, JSON.stringify(first.json));
        assert.ok(await onNode(port, slot(key)), `the record lives on master ${port}`);
        const again = await call();
        assert.is(again.status, 200);
        assert.equal(again.json, first.json);
        assert.is(again.headers.get("idempotent-replayed"), "true");
      }
    } finally {
      await sys?.stop();
    }
  });

  test("a master away: its keys fail fast as STORE_UNAVAILABLE, the others work, limits count in the process; back, all work", async () => {
    const phones = await onEveryMaster(newPhone, (phone) => otpKeys(store.phoneKey(phone)).record);
    const [victim, other] = cluster.ports as [number, number];
    const away = store.phoneKey(phones.get(victim)!);
    const here = store.phoneKey(phones.get(other)!);
    const limits = new RateLimits(kv);
    const name = `away-${randomUUID()}`;
    const limitKeys = await onEveryMaster(() => randomUUID(), (k) => `rl:${name}:${k}`);
    await cluster.kill(victim);
    try {
      const started = performance.now();
      const err = await store.issue(away).then(() => null, (e: unknown) => e);
      const failMs = performance.now() - started;
      assert.ok(err, "a phone whose master is away cannot get a code");
      assert.is(classifyInfrastructure(err)?.reason, "STORE_UNAVAILABLE", String(err));
      assert.ok(failMs < 500, `failed after ${failMs.toFixed(0)} ms`);
      assert.ok(await store.issue(here), "a phone on another master still can");
      const limitStarted = performance.now();
      await limits.consume(name, limitKeys.get(victim)!, 5, 60); // counted in the process
      const limitMs = performance.now() - limitStarted;
      assert.ok(limitMs < 500, `the limit check took ${limitMs.toFixed(0)} ms`);
      await limits.consume(name, limitKeys.get(other)!, 5, 60);
      assert.is(await kv.get(`rl:${name}:${limitKeys.get(other)!}`), "1", "counted in the cluster");

      await cluster.start(victim);
      const back = performance.now();
      for (let i = 0; ; i++) {
        if (await store.issue(away).then(() => true, () => false)) break;
        assert.ok(performance.now() - back < 15_000, "the master came back into use");
        await new Promise((r) => setTimeout(r, 20));
      }
      console.log(`  master away: a command for its keys failed in ${failMs.toFixed(0)} ms, a limit check took ${limitMs.toFixed(0)} ms; in use ${(performance.now() - back).toFixed(0)} ms after its restart (Redis holds a rejoining master ~2 s)`);
    } finally {
      await cluster.start(victim).catch(() => undefined);
    }
  });

  test("the whole cluster away: commands fail at once instead of waiting for it, and work once it is back", async () => {
    await cluster.waitOk();
    const limits = new RateLimits(kv);
    for (const port of cluster.ports) await cluster.kill(port);
    try {
      await new Promise((r) => setTimeout(r, 100)); // the client sees every connection close
      const started = performance.now();
      const err = await kv.get(`gone-${randomUUID()}`).then(() => null, (e: unknown) => e);
      const failMs = performance.now() - started;
      assert.ok(err, "no answer without a cluster");
      assert.is(classifyInfrastructure(err)?.reason, "STORE_UNAVAILABLE", String(err));
      assert.ok(failMs < 500, `failed after ${failMs.toFixed(0)} ms`);
      const limitStarted = performance.now();
      await limits.consume(`gone-${randomUUID()}`, "caller", 5, 60); // counted in the process
      assert.ok(performance.now() - limitStarted < 500);

      for (const port of cluster.ports) await cluster.start(port);
      const back = performance.now();
      const key = `back-${randomUUID()}`;
      for (;;) {
        if (await kv.set(key, "1", 10_000).then(() => true, () => false)) break;
        assert.ok(performance.now() - back < 15_000, "the cluster came back into use");
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.is(await kv.get(key), "1");
      assert.ok((await keysEverywhere(redis, "back-*")).includes(key));
      console.log(`  cluster away: a command failed in ${failMs.toFixed(1)} ms; in use ${(performance.now() - back).toFixed(0)} ms after its restart`);
    } finally {
      for (const port of cluster.ports) await cluster.start(port).catch(() => undefined);
    }
  });
}

test.run();
