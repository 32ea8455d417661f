// The mesh client's balancing over real sockets: plain HTTP/2 servers answering gRPC
// health checks stand in for replicas, on two loopback addresses (127.0.0.1, 127.0.0.2)
// and one port, behind one name. This host's resolver gives no name two addresses, so the
// name is pinned in this process (resolver.ts pinHost) as a line of /etc/hosts would be;
// the connections, refusals, GOAWAYs and resets are real. What the client promises: calls
// spread per call; a call that was never sent is tried on another replica; a call that may
// have reached one is never sent again; an unreachable replica is ejected; the name is
// resolved again, so replicas that join get calls and those that leave lose their session;
// interval 0 leaves balancing to a service mesh; each stream picks a replica.
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { Health, HealthCheckRequestSchema, HealthCheckResponse_ServingStatus, HealthCheckResponseSchema } from "../gen/grpc/health/v1/health_pb.js";
import { frame, unframe } from "../platform/grpc-wire.js";
import { meshTransport } from "../platform/mesh.js";
import { Peers } from "../platform/peers.js";
import { pinHost } from "../platform/resolver.js";
import { fails } from "./helpers/rpc.js";

const test = suite("balancing over real sockets");

/** The name of the replicas in this suite (pinned per test). */
const NAME = "replicas.balancing.test";

type Behaviour = "answer" | "goaway-first" | "reset-after-receiving";

/** A stand-in replica: answers Health/Check (and Watch with one message), counting what reached it. */
class Replica {
  streams = 0;
  sessions = 0;
  closedSessions = 0;
  private readonly server = http2.createServer();
  private readonly open = new Set<http2.ServerHttp2Session>();

  constructor(readonly host: string, private behaviour: Behaviour = "answer") {
    this.server.on("session", (s) => {
      this.sessions++;
      this.open.add(s);
      s.on("close", () => {
        this.closedSessions++;
        this.open.delete(s);
      });
      s.on("error", () => undefined);
      // The server's GOAWAY says it processed no stream: the client may send them elsewhere.
      if (this.behaviour === "goaway-first") s.goaway(http2.constants.NGHTTP2_NO_ERROR, 0);
    });
    this.server.on("stream", (stream) => {
      this.streams++;
      stream.on("error", () => undefined);
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        if (this.behaviour === "reset-after-receiving") {
          stream.session?.destroy();
          return;
        }
        fromBinary(HealthCheckRequestSchema, unframe(Buffer.concat(chunks), "request", Code.InvalidArgument));
        const reply = frame(toBinary(HealthCheckResponseSchema, create(HealthCheckResponseSchema, { status: HealthCheckResponse_ServingStatus.SERVING })));
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
        stream.end(reply);
      });
    });
  }

  listen(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, this.host, () => resolve((this.server.address() as AddressInfo).port));
    });
  }

  async close(): Promise<void> {
    for (const s of this.open) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

let live: Replica[] = [];
let unpins: Array<() => void> = [];

/** Replicas on `hosts`, all on one port (the first's free port). */
async function replicas(hosts: string[], behaviours: Behaviour[] = []): Promise<{ port: number; rs: Replica[] }> {
  for (let tries = 0; ; tries++) {
    const rs = hosts.map((h, i) => new Replica(h, behaviours[i] ?? "answer"));
    try {
      const port = await rs[0]!.listen(0);
      for (const r of rs.slice(1)) await r.listen(port);
      live.push(...rs);
      return { port, rs };
    } catch (err) {
      for (const r of rs) await r.close().catch(() => undefined);
      if (tries >= 5) throw err;
    }
  }
}

function pin(host: string, addresses: string[]): void {
  unpins.push(pinHost(host, addresses));
}

function health(url: string, resolveIntervalMs?: number) {
  return createClient(Health, meshTransport(url, null, "grpc", false, resolveIntervalMs));
}

const checks = (client: ReturnType<typeof health>, n: number) =>
  Promise.all(Array.from({ length: n }, () => client.check({ service: "" }, { timeoutMs: 5_000 })));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.after.each(async () => {
  for (const u of unpins) u();
  unpins = [];
  for (const r of live) await r.close();
  live = [];
});

test("calls spread evenly over the addresses of one name, per call, on one connection each", async () => {
  const { port, rs } = await replicas(["127.0.0.1", "127.0.0.2"]);
  pin(NAME, ["127.0.0.1", "127.0.0.2"]);
  const client = health(`http://${NAME}:${port}`);
  await checks(client, 40);
  for (let i = 0; i < 40; i++) await client.check({ service: "" });
  assert.equal(rs.map((r) => r.streams), [40, 40]);
  assert.equal(rs.map((r) => r.sessions), [1, 1]);
});

test("a replica nobody listens on: every call is sent to the other instead", async () => {
  const { port, rs } = await replicas(["127.0.0.1"]);
  // 127.0.0.3 refuses connections on this port: nothing listens there.
  pin(NAME, ["127.0.0.3", "127.0.0.1"]);
  const client = health(`http://${NAME}:${port}`);
  for (let i = 0; i < 20; i++) await client.check({ service: "" });
  await checks(client, 20);
  assert.is(rs[0]!.streams, 40);
});

test("an address whose connection failed is ejected: picks skip it while its ejection lasts", async () => {
  const { port } = await replicas(["127.0.0.1"]);
  pin(NAME, ["127.0.0.3", "127.0.0.1"]);
  const peers = new Peers(`http://${NAME}:${port}`);
  await peers.pending();
  let dead = peers.pick()!;
  if (dead.address !== "127.0.0.3") dead = peers.pick()!;
  assert.is(dead.address, "127.0.0.3");
  const session = peers.session(dead);
  await new Promise((r) => session.once("error", r));
  assert.ok(dead.ejectedUntilMs > performance.now(), "ejected");
  assert.is(dead.failures, 1);
  const next = Array.from({ length: 6 }, () => peers.pick()!.address);
  assert.equal(next, Array(6).fill("127.0.0.1"));
});

test("a replica that answers every connection with GOAWAY: its calls are refused unsent and go to the other", async () => {
  const { port, rs } = await replicas(["127.0.0.1", "127.0.0.2"], ["goaway-first", "answer"]);
  pin(NAME, ["127.0.0.1", "127.0.0.2"]);
  const client = health(`http://${NAME}:${port}`);
  for (let i = 0; i < 10; i++) await client.check({ service: "" });
  await checks(client, 10);
  assert.is(rs[0]!.streams, 0);
  assert.is(rs[1]!.streams, 20);
});

test("a call that reached a replica is never sent again by the transport, even with another replica up", async () => {
  const { port, rs } = await replicas(["127.0.0.1", "127.0.0.2"], ["reset-after-receiving", "reset-after-receiving"]);
  pin(NAME, ["127.0.0.1", "127.0.0.2"]);
  const client = health(`http://${NAME}:${port}`);
  for (let i = 0; i < 6; i++) await fails(client.check({ service: "" }, { timeoutMs: 5_000 }), Code.Unavailable);
  // Six calls, six streams received in all: none was sent twice.
  assert.is(rs[0]!.streams + rs[1]!.streams, 6);
});

test("the name is resolved again: a replica that joins gets calls, one that leaves has its session closed", async () => {
  const { port, rs } = await replicas(["127.0.0.1", "127.0.0.2"]);
  const [a, b] = rs as [Replica, Replica];
  pin(NAME, ["127.0.0.1"]);
  const client = health(`http://${NAME}:${port}`, 100);
  await checks(client, 10);
  assert.equal([a.streams, b.streams], [10, 0]);

  pin(NAME, ["127.0.0.1", "127.0.0.2"]);
  await sleep(150);
  await client.check({ service: "" }); // due: this call starts the new resolution
  await sleep(20);
  await checks(client, 20);
  assert.is(b.streams, 10, "the replica that joined takes half the calls");

  pin(NAME, ["127.0.0.2"]);
  await sleep(150);
  await client.check({ service: "" });
  await sleep(50);
  assert.is(a.closedSessions, 1, "the session to the address that left is closed");
  const before = a.streams;
  await checks(client, 10);
  assert.is(a.streams, before, "no call goes to the address that left");
});

test("interval 0: one connection to the name as the system resolves it, for a service mesh to balance", async () => {
  const { port, rs } = await replicas(["127.0.0.1", "127.0.0.2"]);
  // In this process `localhost` now has both addresses; the system resolver still says 127.0.0.1.
  pin("localhost", ["127.0.0.2", "127.0.0.1"]);
  await checks(health(`http://localhost:${port}`, 0), 10);
  assert.equal(rs.map((r) => [r.streams, r.sessions]), [[10, 1], [0, 0]]);
  await checks(health(`http://localhost:${port}`), 10);
  assert.equal(rs.map((r) => r.streams), [15, 5]);
});

test("each stream picks a replica", async () => {
  const { port, rs } = await replicas(["127.0.0.1", "127.0.0.2"]);
  pin(NAME, ["127.0.0.1", "127.0.0.2"]);
  const client = health(`http://${NAME}:${port}`);
  for (let i = 0; i < 4; i++) {
    const seen = [];
    for await (const m of client.watch({ service: "" }, { timeoutMs: 5_000 })) seen.push(m.status);
    assert.equal(seen, [HealthCheckResponse_ServingStatus.SERVING]);
  }
  assert.equal(rs.map((r) => r.streams), [2, 2]);
});

test("a name that does not resolve: UNAVAILABLE, naming it", async () => {
  const e = await fails(health("http://nowhere.invalid:9103").check({ service: "" }, { timeoutMs: 5_000 }), Code.Unavailable);
  assert.match(e.message, "nowhere.invalid");
});

test.run();
