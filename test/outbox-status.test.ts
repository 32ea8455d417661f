// GetOutboxStatus, as an operator reads it through the gateway: every service that owns an
// outbox answers its own, over gRPC (grpc-js) and Connect JSON; a row waiting shows as
// backlog and age, a row given up on as given_up, in the RPC and on /metrics alike; and
// only a system admin may ask.
import { randomUUID } from "node:crypto";
import pg from "pg";
import * as assert from "uvu/assert";
import { suite } from "uvu";
import type { DescService } from "@bufbuild/protobuf";
import { Role } from "../gen/fuel/common/v1/common_pb.js";
import { KycService } from "../gen/fuel/kyc/v1/kyc_pb.js";
import { LoanService } from "../gen/fuel/loan/v1/loan_pb.js";
import { NotificationService } from "../gen/fuel/notification/v1/notification_pb.js";
import { PaymentService } from "../gen/fuel/payment/v1/payment_pb.js";
import { TransactionService } from "../gen/fuel/transaction/v1/transaction_pb.js";
import { GrpcJsClient, postJson } from "./helpers/clients.js";
import { scrape } from "./helpers/prometheus.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";

const test = suite("outbox status");
let sys: TestSystem;
let db: pg.Client;
let adminToken: string;

const OUTBOXES: Array<[string, DescService]> = [
  ["kyc", KycService],
  ["loan", LoanService],
  ["payment", PaymentService],
  ["notification", NotificationService],
  ["transaction", TransactionService],
];

test.before(async () => {
  sys = await startTestSystem({ env: { METRICS_PORT: "0", METRICS_CACHE_MS: "0" } });
  db = new pg.Client({ connectionString: sys.databaseUrl });
  await db.connect();
  adminToken = await mintAccessToken(sys, principal(Role.SYSTEM_ADMIN));
});
test.after(async () => {
  await db?.end();
  await sys?.stop();
});

interface StatusJson {
  status: { outbox: string; backlog?: string; oldestAgeSeconds?: string; givenUp?: string };
}

async function statusOverJson(service: DescService, token = adminToken) {
  return await postJson(sys.gatewayUrl, `${service.typeName}/GetOutboxStatus`, {}, { authorization: `Bearer ${token}` });
}

async function statusOverGrpc(service: DescService) {
  const client = new GrpcJsClient(service, sys.gatewayUrl, adminToken);
  try {
    return (await client.unary(service.method.getOutboxStatus!, {})).message as unknown as {
      status: { outbox: string; backlog: bigint; oldestAgeSeconds: bigint; givenUp: bigint };
    };
  } finally {
    client.close();
  }
}

test("every service with an outbox answers its own, over gRPC and Connect JSON", async () => {
  for (const [name, service] of OUTBOXES) {
    const grpcAnswer = await statusOverGrpc(service);
    assert.is(grpcAnswer.status.outbox, name);
    assert.ok(grpcAnswer.status.backlog >= 0n && grpcAnswer.status.givenUp === 0n, `${name}: nothing given up on a fresh system`);
    const json = await statusOverJson(service);
    assert.is(json.status, 200, `${name} over Connect JSON`);
    assert.is((json.json as StatusJson).status.outbox, name);
  }
});

test("a row waiting is backlog and age; a row given up on is given_up, in the RPC and on /metrics", async () => {
  // Not due for an hour, so the relays leave them: the answer reads the tables as they stand.
  await db.query(
    `INSERT INTO kyc.outbox (outbox_id, kind, payload, next_attempt_at, create_time) VALUES ($1, 'IN_APP', '{}', now() + interval '1 hour', now() - interval '90 seconds')`,
    [randomUUID()],
  );
  await db.query(
    `INSERT INTO kyc.outbox (outbox_id, kind, payload, attempts, dead_at, last_error) VALUES ($1, 'IN_APP', '{}', 20, now(), 'NotFound: no such user')`,
    [randomUUID()],
  );
  const deliveryId = randomUUID();
  await db.query(
    `INSERT INTO notification.deliveries (delivery_id, channel, recipient, status, attempts, last_error, idem_scope, idem_key, request_hash, create_time)
     VALUES ($1, 'SMS', '+2348000000000', 'FAILED', 8, 'provider refused', 'test', $2, 'h', now())`,
    [deliveryId, deliveryId],
  );

  const kyc = await statusOverGrpc(KycService);
  assert.is(kyc.status.backlog, 1n);
  assert.ok(kyc.status.oldestAgeSeconds >= 90n && kyc.status.oldestAgeSeconds < 120n, `age ${kyc.status.oldestAgeSeconds}`);
  assert.is(kyc.status.givenUp, 1n);
  const json = (await statusOverJson(KycService)).json as StatusJson;
  assert.equal([json.status.backlog, json.status.givenUp], ["1", "1"], "int64 as JSON strings");
  assert.is((await statusOverGrpc(NotificationService)).status.givenUp, 1n);
  assert.is((await statusOverGrpc(LoanService)).status.givenUp, 0n, "each service reads its own table");

  const s = await scrape(sys.metrics!.url);
  assert.is(s.value("fuel_outbox_given_up", { outbox: "kyc" }), 1);
  assert.is(s.value("fuel_outbox_given_up", { outbox: "notification" }), 1);
  assert.is(s.value("fuel_outbox_backlog", { outbox: "kyc" }), 1);
});

test("only a system admin may ask: every other role is refused by name", async () => {
  const others = [
    principal(Role.BANK_ADMIN, { bankId: randomUUID() }),
    principal(Role.MERCHANT_ADMIN, { merchantId: randomUUID() }),
    principal(Role.DRIVER, { driverId: randomUUID() }),
  ];
  for (const p of others) {
    const token = await mintAccessToken(sys, p);
    for (const [name, service] of OUTBOXES) {
      const r = await statusOverJson(service, token);
      assert.is(r.status, 403, `${Role[p.role]} → ${name}`);
      assert.is((r.json as { code: string }).code, "permission_denied");
    }
  }
  const anonymous = await postJson(sys.gatewayUrl, `${KycService.typeName}/GetOutboxStatus`, {});
  assert.is(anonymous.status, 401);
});

test.run();
