// The public edge, spoken to as real clients do: grpc-js over HTTP/2 (POS, banks),
// Connect JSON over HTTP/1.1 (mobile apps), Connect binary over HTTP/2 and gRPC-Web.
import { randomBytes } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { AuthService } from "../gen/fuel/auth/v1/auth_pb.js";
import { Role } from "../gen/fuel/common/v1/common_pb.js";
import { CreditService } from "../gen/fuel/credit/v1/credit_pb.js";
import { KycService } from "../gen/fuel/kyc/v1/kyc_pb.js";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import {
  ServerReflectionRequestSchema,
  ServerReflectionResponseSchema,
  type ServerReflectionResponse,
} from "../gen/grpc/reflection/v1/reflection_pb.js";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { GrpcJsClient, postJson } from "./helpers/clients.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";

const test = suite("gateway");
let sys: TestSystem;

test.before(async () => {
  sys = await startTestSystem();
});
test.after(async () => {
  await sys?.stop();
});

function reflect(address: string, requests: Array<Parameters<typeof create<typeof ServerReflectionRequestSchema>>[1]>): Promise<ServerReflectionResponse[]> {
  const client = new grpc.Client(address.replace("http://", ""), grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    const out: ServerReflectionResponse[] = [];
    const call = client.makeBidiStreamRequest(
      "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
      (m: unknown) => Buffer.from(toBinary(ServerReflectionRequestSchema, create(ServerReflectionRequestSchema, m as never))),
      (b: Buffer) => fromBinary(ServerReflectionResponseSchema, b),
    );
    call.on("data", (d: ServerReflectionResponse) => out.push(d));
    call.on("error", reject);
    call.on("end", () => {
      client.close();
      resolve(out);
    });
    for (const r of requests) call.write(r);
    call.end();
  });
}

test("health answers a grpc-js client through the gateway", async () => {
  const health = new GrpcJsClient(Health, sys.gatewayUrl);
  const res = await health.unary(Health.method.check, {});
  assert.is(res.message.status, 1); // SERVING
  assert.match(String(res.headers.get("x-trace-id")[0]), /^[0-9a-f]{32}$/);
  const kyc = await health.unary(Health.method.check, { service: "fuel.kyc.v1.KycService" });
  assert.is(kyc.message.status, 1);
  health.close();
});

test("reflection through the gateway lists all eight services and serves their files", async () => {
  const [list, file] = await reflect(sys.gatewayUrl, [
    { messageRequest: { case: "listServices", value: "" } },
    { messageRequest: { case: "fileContainingSymbol", value: "fuel.credit.v1.CreditService" } },
  ]);
  assert.ok(list && list.messageResponse.case === "listServicesResponse");
  const names = list.messageResponse.value.service.map((s) => s.name);
  for (const d of ["auth", "kyc", "credit", "transaction", "loan", "payment", "station", "notification"]) {
    assert.ok(names.some((n) => n.startsWith(`fuel.${d}.v1.`)), `missing ${d}: ${names.join(",")}`);
  }
  assert.ok(names.includes("grpc.health.v1.Health") && names.includes("grpc.reflection.v1.ServerReflection"));
  assert.ok(file && file.messageResponse.case === "fileDescriptorResponse");
  const files = file.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b).name);
  assert.ok(files.includes("fuel/credit/v1/credit.proto"));
  assert.ok(files.includes("fuel/common/v1/common.proto"), "dependencies come along");
});

test("every response carries x-trace-id, errors carry it in ErrorInfo too", async () => {
  const ok = await postJson(sys.gatewayUrl, "grpc.health.v1.Health/Check", {});
  assert.is(ok.status, 200);
  assert.match(ok.headers.get("x-trace-id") ?? "", /^[0-9a-f]{32}$/);
  const denied = await postJson(sys.gatewayUrl, "fuel.kyc.v1.KycService/ListBanks", {});
  assert.is(denied.status, 401);
  const traceId = denied.headers.get("x-trace-id");
  assert.match(traceId ?? "", /^[0-9a-f]{32}$/);
  assert.is(denied.json.details[0].debug.metadata.trace_id, traceId);
  assert.is(denied.json.details[0].debug.reason, "CREDENTIALS_REQUIRED");
});

test("a caller's traceparent is continued, not replaced", async () => {
  const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
  const res = await postJson(sys.gatewayUrl, "grpc.health.v1.Health/Check", {}, { traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
  assert.is(res.headers.get("x-trace-id"), traceId);
});

test("plain HTTP answers carry x-trace-id too, continuing the caller's traceparent", async () => {
  const base = sys.gatewayUrl;
  const big = "x".repeat(sys.cfg.maxRequestBytes + 1);
  const answers: Array<[string, number, (h: Record<string, string>) => Promise<Response>]> = [
    ["jwks.json", 200, (h) => fetch(`${base}/.well-known/jwks.json`, { headers: h })],
    ["webhook, bad signature", 401, (h) => fetch(`${base}/payments/webhook/reconcile`, { method: "POST", headers: { ...h, "content-type": "application/json", "x-webhook-timestamp": String(Math.floor(Date.now() / 1000)), "x-webhook-signature": "v1=00" }, body: "{}" })],
    ["webhook, wrong method", 405, (h) => fetch(`${base}/payments/webhook/reconcile`, { headers: h })],
    ["edge, body too large", 413, (h) => fetch(`${base}/fuel.auth.v1.AuthService/RequestOtp`, { method: "POST", headers: { ...h, "content-type": "application/json" }, body: big })],
    ["edge, CORS preflight", 204, (h) => fetch(`${base}/fuel.auth.v1.AuthService/RequestOtp`, { method: "OPTIONS", headers: { ...h, origin: "https://app.example", "access-control-request-method": "POST" } })],
    ["router, unknown path", 404, (h) => fetch(`${base}/fuel.nothing.v1.Nothing/Nothing`, { method: "POST", headers: { ...h, "content-type": "application/json" }, body: "{}" })],
    ["router, GET on a unary method", 405, (h) => fetch(`${base}/fuel.auth.v1.AuthService/RequestOtp`, { headers: h })],
    ["router, unsupported media type", 415, (h) => fetch(`${base}/fuel.auth.v1.AuthService/RequestOtp`, { method: "POST", headers: { ...h, "content-type": "text/plain" }, body: "{}" })],
  ];
  for (const [what, status, send] of answers) {
    const fresh = await send({});
    assert.is(fresh.status, status, what);
    assert.match(fresh.headers.get("x-trace-id") ?? "", /^[0-9a-f]{32}$/, what);
    const traceId = randomBytes(16).toString("hex");
    const continued = await send({ traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    assert.is(continued.status, status, what);
    assert.is(continued.headers.get("x-trace-id"), traceId, what);
    assert.is.not(fresh.headers.get("x-trace-id"), traceId, what);
  }
});

test("internal methods are not exposed at the edge", async () => {
  const token = await mintAccessToken(sys, principal(Role.SYSTEM_ADMIN));
  const res = await postJson(sys.gatewayUrl, "fuel.credit.v1.CreditService/Capture", {}, { authorization: `Bearer ${token}` });
  assert.is(res.status, 404);
  const res2 = await postJson(sys.gatewayUrl, "fuel.auth.v1.AuthService/CreateDriverUser", {}, { authorization: `Bearer ${token}` });
  assert.is(res2.status, 404);
  // …and the service itself refuses a user token on them, even one of a system admin.
  const direct = createClient(CreditService, createConnectTransport({ baseUrl: sys.cfg.urls.credit, httpVersion: "2" }));
  try {
    await direct.capture({}, { headers: { authorization: `Bearer ${token}`, "idempotency-key": "k1" } });
    assert.unreachable();
  } catch (err) {
    assert.is(ConnectError.from(err).code, Code.PermissionDenied);
  }
});

test("a driver calling an admin method is PERMISSION_DENIED at the edge", async () => {
  const token = await mintAccessToken(sys, principal(Role.DRIVER, { driverId: "6f1c1c9e-4a4e-4b8e-9f53-7d1d2f0f2c11" }));
  const res = await postJson(sys.gatewayUrl, "fuel.kyc.v1.KycService/CreateBank", { name: "X" }, { authorization: `Bearer ${token}`, "idempotency-key": "k" });
  assert.is(res.status, 403);
  assert.is(res.json.details[0].debug.reason, "ROLE_NOT_ALLOWED");
});

test("CORS preflight and security headers", async () => {
  const pre = await fetch(`${sys.gatewayUrl}/fuel.auth.v1.AuthService/RequestOtp`, {
    method: "OPTIONS",
    headers: { origin: "https://app.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type,authorization,idempotency-key" },
  });
  assert.is(pre.status, 204);
  assert.is(pre.headers.get("access-control-allow-origin"), "*");
  assert.ok((pre.headers.get("access-control-allow-headers") ?? "").includes("idempotency-key"));
  const res = await fetch(`${sys.gatewayUrl}/grpc.health.v1.Health/Check`, { method: "POST", headers: { "content-type": "application/json", origin: "https://app.example" }, body: "{}" });
  assert.is(res.headers.get("x-content-type-options"), "nosniff");
  assert.ok((res.headers.get("access-control-expose-headers") ?? "").includes("x-trace-id"));
});

test("request size cap refuses oversized bodies before reading them", async () => {
  const big = "x".repeat(sys.cfg.maxRequestBytes + 1);
  const res = await fetch(`${sys.gatewayUrl}/fuel.auth.v1.AuthService/RequestOtp`, { method: "POST", headers: { "content-type": "application/json" }, body: big });
  assert.is(res.status, 413);
});

test("Connect binary over HTTP/2 and gRPC-Web reach the same methods", async () => {
  const h2 = createClient(AuthService, createConnectTransport({ baseUrl: sys.gatewayUrl, httpVersion: "2", useBinaryFormat: true }));
  const jwks = await h2.getJwks({});
  assert.ok(JSON.parse(jwks.jwksJson).keys.length >= 1);
  const web = createClient(AuthService, createGrpcWebTransport({ baseUrl: sys.gatewayUrl, httpVersion: "1.1" }));
  const jwks2 = await web.getJwks({});
  assert.equal(JSON.parse(jwks2.jwksJson), JSON.parse(jwks.jwksJson));
});

test("a bad token is UNAUTHENTICATED with a reason, never INTERNAL", async () => {
  const kyc = new GrpcJsClient(KycService, sys.gatewayUrl, "not.a.token");
  try {
    await kyc.unary(KycService.method.listBanks, {});
    assert.unreachable();
  } catch (err) {
    assert.is((err as grpc.ServiceError).code, grpc.status.UNAUTHENTICATED);
  }
  kyc.close();
  const res = await postJson(sys.gatewayUrl, "fuel.kyc.v1.KycService/ListBanks", {}, { authorization: "Basic abc" });
  assert.is(res.status, 401);
  assert.ok(ErrorInfoSchema.typeName === res.json.details[0].type);
});

test("the JWKS is also served at /.well-known/jwks.json", async () => {
  const res = await fetch(`${sys.gatewayUrl}/.well-known/jwks.json`);
  assert.is(res.status, 200);
  const body = (await res.json()) as { keys: Array<{ kid: string; kty: string; d?: string }> };
  assert.ok(body.keys[0]?.kid);
  assert.is(body.keys[0]?.kty, "EC");
  assert.is(body.keys[0]?.d, undefined, "never the private part");
});

test.run();
