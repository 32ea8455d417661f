// Mesh hops, both ways a hop can go: in-process (services sharing a process, the default
// for `npm start`) and over the network through the unary gRPC client (each service in its
// own process, MESH_IN_PROCESS=false here). The same calls through the gateway must come
// back the same: the callee's own identity and idempotency checks, error codes with their
// field details, the replay header. Then the network client's failure modes, against real
// HTTP/2 servers that misbehave.
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Role } from "../gen/fuel/common/v1/common_pb.js";
import { KycService } from "../gen/fuel/kyc/v1/kyc_pb.js";
import { StationService } from "../gen/fuel/station/v1/station_pb.js";
import { BadRequestSchema } from "../gen/google/rpc/error_details_pb.js";
import { fastGrpcTransport } from "../platform/grpc-client.js";
import { findLocal } from "../platform/local.js";
import { connectJson, postJson } from "./helpers/clients.js";
import { fails } from "./helpers/rpc.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";

for (const inProcess of [true, false]) {
  const test = suite(`mesh hops ${inProcess ? "in-process" : "over the network"}`);
  let sys: TestSystem;
  let admin: string;

  test.before(async () => {
    sys = await startTestSystem({ services: ["auth", "kyc", "station"], env: { MESH_IN_PROCESS: String(inProcess) } });
    admin = await mintAccessToken(sys, principal(Role.SYSTEM_ADMIN));
  });
  test.after(async () => {
    await sys?.stop();
  });

  test("the hop takes the path the configuration asks for", () => {
    const port = new URL(sys.cfg.urls.kyc).port;
    // The registry always knows the local servers; only the mesh client's setting decides.
    assert.ok(findLocal(KycService.typeName, KycService.method.createMerchant.name, port));
    assert.is(sys.cfg.meshInProcess, inProcess);
  });

  test("the callee decides access with the caller's identity", async () => {
    const driver = connectJson(KycService, sys.gatewayUrl, await mintAccessToken(sys, principal(Role.DRIVER, { driverId: randomUUID() })));
    await fails(driver.createMerchant({ name: "Nope Fuels", registrationNumber: "RC-1", contactEmail: "a@b.example" }, { headers: { "idempotency-key": randomUUID() } }), Code.PermissionDenied);
  });

  test("a field error comes back with its code and BadRequest detail", async () => {
    try {
      await connectJson(KycService, sys.gatewayUrl, admin).createMerchant({ name: "x", registrationNumber: "RC-2", contactEmail: "a@b.example" }, { headers: { "idempotency-key": randomUUID() } });
      assert.unreachable("accepted a one-letter name");
    } catch (err) {
      const ce = err as import("@connectrpc/connect").ConnectError;
      assert.is(ce.code, Code.InvalidArgument);
      const fields = ce.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations.map((f) => f.field));
      assert.equal(fields, ["name"]);
    }
    await fails(connectJson(StationService, sys.gatewayUrl, admin).getStation({ stationId: randomUUID() }), Code.NotFound);
  });

  test("a retried create is replayed by the callee, and the replay header reaches the client", async () => {
    const key = randomUUID();
    const body = { name: "Replay Fuels", registrationNumber: `RC-${key.slice(0, 8)}`, contactEmail: "ops@replay.example" };
    const headers = { authorization: `Bearer ${admin}`, "idempotency-key": key };
    const first = await postJson(sys.gatewayUrl, "fuel.kyc.v1.KycService/CreateMerchant", body, headers);
    const again = await postJson(sys.gatewayUrl, "fuel.kyc.v1.KycService/CreateMerchant", body, headers);
    assert.is(first.status, 200);
    assert.is(again.status, 200);
    assert.is(again.json.merchant.merchantId, first.json.merchant.merchantId);
    assert.is(first.headers.get("idempotent-replayed"), null);
    assert.is(again.headers.get("idempotent-replayed"), "true");
  });

  test.run();
}

const transport = suite("unary gRPC client failure modes");
const servers: http2.Http2Server[] = [];
const sessions: http2.ServerHttp2Session[] = [];

async function serve(onStream: (s: http2.ServerHttp2Stream) => void): Promise<string> {
  const server = http2.createServer();
  server.on("stream", onStream);
  server.on("session", (s) => sessions.push(s));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function kycClient(baseUrl: string) {
  const opts = { baseUrl, httpVersion: "2" as const, interceptors: [], readMaxBytes: 1024 * 1024, writeMaxBytes: 1024 * 1024 };
  return createClient(KycService, fastGrpcTransport({ ...opts, fallback: createGrpcTransport(opts) }));
}

transport.after(async () => {
  for (const s of sessions) s.destroy();
  for (const s of servers) await new Promise((r) => s.close(r));
});

transport("a server that never answers is cut off at the deadline", async () => {
  const url = await serve(() => undefined); // accepts the stream, says nothing
  const started = Date.now();
  await fails(kycClient(url).getBank({ bankId: randomUUID() }, { timeoutMs: 150 }), Code.DeadlineExceeded);
  assert.ok(Date.now() - started < 2_000);
});

transport("nobody listening is UNAVAILABLE", async () => {
  const url = await serve(() => undefined);
  const server = servers.pop()!;
  await new Promise((r) => server.close(r));
  await fails(kycClient(url).getBank({ bankId: randomUUID() }, { timeoutMs: 2_000 }), Code.Unavailable);
});

transport("an HTTP error without a gRPC status maps by the gRPC spec", async () => {
  const url = await serve((s) => {
    s.respond({ ":status": 503, "content-type": "text/plain" });
    s.end("overloaded");
  });
  await fails(kycClient(url).getBank({ bankId: randomUUID() }, { timeoutMs: 2_000 }), Code.Unavailable);
});

transport("a trailers-only error keeps its code and message", async () => {
  const url = await serve((s) => {
    s.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": String(Code.ResourceExhausted), "grpc-message": "slow down" }, { endStream: true });
  });
  const e = await fails(kycClient(url).getBank({ bankId: randomUUID() }, { timeoutMs: 2_000 }), Code.ResourceExhausted);
  assert.is(e.message, "slow down");
});

transport("a response larger than the read limit is refused", async () => {
  const url = await serve((s) => {
    s.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    s.on("wantTrailers", () => s.sendTrailers({ "grpc-status": "0" }));
    const big = Buffer.alloc(5 + 2 * 1024 * 1024);
    big.writeUInt32BE(2 * 1024 * 1024, 1);
    s.end(big);
  });
  await fails(kycClient(url).getBank({ bankId: randomUUID() }, { timeoutMs: 5_000 }), Code.ResourceExhausted);
});

transport.run();
