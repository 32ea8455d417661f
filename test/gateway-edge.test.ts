// The edge's per-caller budget and the headers only the mesh may send, on both ways a
// call crosses the gateway: a unary gRPC call to a service in the same process is handed
// straight to that service's chain (gateway/local-edge.ts), a Connect call is forwarded
// through the gateway's own chain (gateway/forward.ts). Either way a caller spends one
// unit per call from one budget, and a client cannot speak as a mesh peer.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import * as grpc from "@grpc/grpc-js";
import { AuthService } from "../gen/fuel/auth/v1/auth_pb.js";
import { Role } from "../gen/fuel/common/v1/common_pb.js";
import { StationService } from "../gen/fuel/station/v1/station_pb.js";
import { CLIENT_IP_HEADER, SERVICE_TOKEN_HEADER } from "../platform/interceptors/authenticate.js";
import { GrpcJsClient, postJson, type GrpcJsError } from "./helpers/clients.js";
import { newPhone } from "./helpers/rpc.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";

const BUDGET = 6;
const test = suite("gateway edge");
let sys: TestSystem;

test.before(async () => {
  sys = await startTestSystem({ env: { RATE_LIMIT_PER_MINUTE: String(BUDGET) } });
});
test.after(async () => {
  await sys?.stop();
});

const search = { location: { latitude: 6.45, longitude: 3.39 }, radiusM: 1000, pageSize: 5 };

async function grpcCode(p: Promise<unknown>): Promise<{ code: grpc.status; reason?: string; traceId?: string }> {
  try {
    await p;
    return { code: grpc.status.OK };
  } catch (err) {
    const e = err as GrpcJsError;
    return { code: e.code, traceId: String(e.metadata?.get("x-trace-id")[0] ?? "") };
  }
}

test("one budget per caller across gRPC (handed over in-process) and Connect (forwarded); spent once per call", async () => {
  const token = await mintAccessToken(sys, principal(Role.DRIVER, { driverId: crypto.randomUUID() }));
  const grpcClient = new GrpcJsClient(StationService, sys.gatewayUrl, token);
  try {
    // Half the budget over gRPC, half over Connect JSON: had either path spent twice (the
    // gateway's chain and the service's), the budget would run out halfway.
    for (let i = 0; i < BUDGET / 2; i++) {
      const res = await grpcClient.unary(StationService.method.searchNearby, search);
      assert.ok(res.headers.get("x-trace-id")[0], "x-trace-id on a handed-over call");
      const viaConnect = await postJson(sys.gatewayUrl, "fuel.station.v1.StationService/SearchNearby", search, { authorization: `Bearer ${token}` });
      assert.is(viaConnect.status, 200, JSON.stringify(viaConnect.json));
    }
    const over = await grpcCode(grpcClient.unary(StationService.method.searchNearby, search));
    assert.is(over.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(over.traceId ?? "", /^[0-9a-f]{32}$/, "the refusal carries a trace id");
    const overConnect = await postJson(sys.gatewayUrl, "fuel.station.v1.StationService/SearchNearby", search, { authorization: `Bearer ${token}` });
    assert.is(overConnect.status, 429);
    assert.is(overConnect.json.code, "resource_exhausted");

    // Another driver has a budget of their own.
    const other = new GrpcJsClient(StationService, sys.gatewayUrl, await mintAccessToken(sys, principal(Role.DRIVER, { driverId: crypto.randomUUID() })));
    try {
      assert.is((await other.unary(StationService.method.searchNearby, search)).message.results.length >= 0, true);
    } finally {
      other.close();
    }
  } finally {
    grpcClient.close();
  }
});

test("a client's mesh-only headers are dropped: no service identity, no claimed client address", async () => {
  // Anonymous calls are budgeted per client address. A client that claims another address
  // (the header a mesh peer uses to pass the end client's on) still spends its own.
  const anon = new GrpcJsClient(AuthService, sys.gatewayUrl);
  try {
    const spoof = { [CLIENT_IP_HEADER]: "203.0.113.7", [SERVICE_TOKEN_HEADER]: "not-a-service-token" };
    let refused = false;
    for (let i = 0; i < BUDGET + 1 && !refused; i++) {
      const r = await grpcCode(anon.unary(AuthService.method.getJwks, {}, { ...spoof, [CLIENT_IP_HEADER]: `203.0.113.${i}` }));
      // A garbage service token is not even looked at: the call is the gateway's, not the client's claim.
      if (r.code === grpc.status.RESOURCE_EXHAUSTED) refused = true;
      else assert.is(r.code, grpc.status.OK, `call ${i}`);
    }
    assert.ok(refused, "a fresh claimed address each call did not buy a fresh budget");
  } finally {
    anon.close();
  }
});

test("an anonymous call over budget does nothing: no OTP is sent", async () => {
  // The previous test spent this address's budget. A read by a signed-in caller may run
  // beside its budget check; an anonymous call must wait for it — an OTP request sends a
  // message, and the budget is what stands in front of it.
  const phone = newPhone("+23480");
  const anon = new GrpcJsClient(AuthService, sys.gatewayUrl);
  try {
    const r = await grpcCode(anon.unary(AuthService.method.customerRequestOtp, { phone }));
    assert.is(r.code, grpc.status.RESOURCE_EXHAUSTED);
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // the outbox worker's time to send one
    assert.equal(sys.devInbox!.messages({ channel: "sms", to: phone }), []);
  } finally {
    anon.close();
  }
});

test.run();
