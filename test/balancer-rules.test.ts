// Unit tests of how a mesh client picks a replica (platform/balancer.ts): round robin,
// ejection after a failed connection with a bounded backoff, what happens when every
// replica is ejected, and how a new answer of the resolver is merged; plus the resolver's
// own rules and the setting that paces it.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { EJECT_BASE_MS, EJECT_MAX_MS, ejectionMs, MAX_ADDRESSES, Picker, type Endpoint } from "../platform/balancer.js";
import { ConfigError, loadConfig } from "../platform/config.js";
import { hostOf, pinHost, resolveHost } from "../platform/resolver.js";

const test = suite("balancer rules");

const make = (address: string): Endpoint => ({ address, failures: 0, ejectedUntilMs: 0 });

function picker(addresses: string[], start = 0): Picker<Endpoint> {
  const p = new Picker<Endpoint>(start);
  p.update(addresses, make);
  return p;
}

const picks = (p: Picker<Endpoint>, n: number, now = 0) => Array.from({ length: n }, () => p.pick(now)?.address);

test("calls go round robin, from the starting point each process draws", () => {
  assert.equal(picks(picker(["a", "b", "c"]), 6), ["a", "b", "c", "a", "b", "c"]);
  assert.equal(picks(picker(["a", "b", "c"], 4), 4), ["b", "c", "a", "b"]);
  assert.equal(picks(picker(["a"]), 3), ["a", "a", "a"]);
  assert.is(new Picker<Endpoint>().pick(0), undefined);
});

test("a failed connection ejects its address; the others take every call until the ejection ends", () => {
  const p = picker(["a", "b", "c"]);
  const b = p.endpoints[1]!;
  p.failed(b, 1_000);
  assert.is(b.ejectedUntilMs, 1_000 + EJECT_BASE_MS);
  assert.equal(picks(p, 4, 1_000), ["a", "c", "a", "c"]);
  assert.equal(picks(p, 3, 1_000 + EJECT_BASE_MS), ["a", "b", "c"]);
});

test("each failure in a row doubles the ejection, up to its bound; a connection that succeeds starts over", () => {
  assert.equal([1, 2, 3, 4, 5].map(ejectionMs), [250, 500, 1_000, 2_000, 4_000]);
  assert.is(ejectionMs(0), 0);
  assert.is(ejectionMs(7), EJECT_MAX_MS);
  assert.is(ejectionMs(1_000), EJECT_MAX_MS);
  const p = picker(["a", "b"]);
  const a = p.endpoints[0]!;
  for (let i = 0; i < 50; i++) p.failed(a, 0);
  assert.is(a.ejectedUntilMs, EJECT_MAX_MS);
  p.connected(a);
  assert.equal([a.failures, a.ejectedUntilMs], [0, 0]);
  p.failed(a, 0);
  assert.is(a.ejectedUntilMs, EJECT_BASE_MS);
});

test("when every address is ejected a call still tries the one whose ejection ends first", () => {
  const p = picker(["a", "b", "c"]);
  const [a, b, c] = p.endpoints as Endpoint[];
  p.failed(a!, 0);
  p.failed(a!, 0); // 500 ms
  p.failed(b!, 100); // until 350
  p.failed(c!, 0);
  p.failed(c!, 0);
  p.failed(c!, 0); // 1 000 ms
  assert.is(p.pick(200)?.address, "b");
  assert.is(p.pick(200)?.address, "b");
});

test("a call's retry goes to an address it has not tried; none left is none", () => {
  const p = picker(["a", "b", "c"]);
  const [a, b, c] = p.endpoints as Endpoint[];
  assert.is(p.pick(0, [a!])?.address, "b");
  assert.is(p.pick(0, [a!, b!])?.address, "c");
  assert.is(p.pick(0, [a!, b!, c!]), undefined);
  // Ejected and untried still beats nothing.
  p.failed(c!, 0);
  assert.is(p.pick(0, [a!, b!])?.address, "c");
});

test("a new answer keeps the replicas still there (their state too), adds new ones and hands back those that left", () => {
  const p = picker(["a", "b"]);
  const [a, b] = p.endpoints as Endpoint[];
  p.failed(a!, 0);
  const gone = p.update(["a", "c", "c"], make);
  assert.equal(gone, [b]);
  assert.equal(p.endpoints.map((e) => e.address), ["a", "c"]);
  assert.ok(p.endpoints[0] === a, "the same endpoint, with its session and ejection");
  assert.is(a!.failures, 1);
  assert.equal(p.update([], make), [], "an empty answer changes nothing");
  assert.equal(p.endpoints.map((e) => e.address), ["a", "c"]);
  const many = Array.from({ length: MAX_ADDRESSES + 10 }, (_, i) => `10.0.0.${i}`);
  p.update(many, make);
  assert.is(p.endpoints.length, MAX_ADDRESSES);
});

test("after the list shrinks the next pick stays in it", () => {
  const p = picker(["a", "b", "c"], 2);
  p.update(["a"], make);
  assert.equal(picks(p, 2), ["a", "a"]);
});

test("the resolver: an IP literal is itself, a pinned name its addresses, other names the system's answer", async () => {
  assert.is(hostOf(new URL("http://[::1]:9103")), "::1");
  assert.is(hostOf(new URL("http://credit:9103")), "credit");
  assert.equal(await resolveHost("10.1.2.3"), ["10.1.2.3"]);
  assert.equal(await resolveHost("::1"), ["::1"]);
  const unpin = pinHost("Credit.Replicas.Test", ["127.0.0.1", "127.0.0.2"]);
  assert.equal(await resolveHost("credit.replicas.test"), ["127.0.0.1", "127.0.0.2"]);
  unpin();
  // getaddrinfo, as every program on this host resolves names (/etc/hosts here).
  assert.ok((await resolveHost("localhost")).includes("127.0.0.1"));
  try {
    await resolveHost("credit.replicas.test");
    assert.unreachable("an unpinned test name resolved");
  } catch (err) {
    assert.is((err as NodeJS.ErrnoException).code, "ENOTFOUND");
  }
});

test("MESH_RESOLVE_INTERVAL_MS: 5 s by default, 0 turns balancing off, a lookup per call is refused", () => {
  assert.is(loadConfig({}).meshResolveIntervalMs, 5_000);
  assert.is(loadConfig({ MESH_RESOLVE_INTERVAL_MS: "0" }).meshResolveIntervalMs, 0);
  assert.is(loadConfig({ MESH_RESOLVE_INTERVAL_MS: "30000" }).meshResolveIntervalMs, 30_000);
  for (const bad of ["50", "-1", "soon", "400000"]) {
    try {
      loadConfig({ MESH_RESOLVE_INTERVAL_MS: bad });
      assert.unreachable(`accepted ${bad}`);
    } catch (err) {
      assert.instance(err, ConfigError);
      assert.ok((err as ConfigError).problems.some((m) => m.startsWith("MESH_RESOLVE_INTERVAL_MS")), (err as Error).message);
    }
  }
});

test.run();
