// Every declined authorisation carries its reason and an advice code, and owes notices
// written with the decline: the driver's in-app notice and push, and for a decline on an
// agency's line an in-app notice to each of the agency's admins. Through the gateway
// with a grpc-js terminal; the notices read back as their recipients would.
import { randomUUID } from "node:crypto";
import * as assert from "uvu/assert";
import pg from "pg";
import { FuelType, Role } from "../gen/fuel/common/v1/common_pb.js";
import { AuthService } from "../gen/fuel/auth/v1/auth_pb.js";
import { DeclineAdvice, DeclineReason } from "../gen/fuel/credit/v1/credit_line_pb.js";
import { Channel, NotificationService, PushPlatform } from "../gen/fuel/notification/v1/notification_pb.js";
import { TransactionService, TransactionStatus } from "../gen/fuel/transaction/v1/transaction_pb.js";
import { creditSuite, Fixtures, ngn } from "./credit-fixtures.js";
import { connectJson } from "./helpers/clients.js";
import { newPhone } from "./helpers/rpc.js";
import { qrPayload, saleWorld, type SaleWorld } from "./helpers/sale-world.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";
import { until } from "./helpers/until.js";

const test = creditSuite("decline notices");
let sys: TestSystem;
let fx: Fixtures;
let w: SaleWorld;

async function authorize(world: SaleWorld, amountMinor: bigint, key = randomUUID()) {
  const qr = await qrPayload(world);
  const r = await world.pos.unary(TransactionService.method.authorize, {
    qrPayload: qr.payload, stationId: world.stationId, fuelType: FuelType.PETROL, requestedAmount: ngn(amountMinor),
  }, { "idempotency-key": key });
  return r.message.transaction!;
}

const inbox = (token: string) => connectJson(NotificationService, sys.gatewayUrl, token);
/** The driver's decline notices, once at least one has arrived. */
const declineNotices = (token: string, what: string) => until(what, async () => {
  const n = (await inbox(token).listNotifications({ pageSize: 200 })).notifications.filter((x) => x.kind === "PURCHASE_DECLINED");
  return n.length > 0 ? n : undefined;
});

async function outboxRows(transactionId: string): Promise<number> {
  const db = new pg.Client({ connectionString: sys.databaseOf("transaction") });
  await db.connect();
  try {
    return (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM transaction.outbox WHERE transaction_id = $1`, [transactionId])).rows[0]!.n;
  } finally {
    await db.end();
  }
}

test.before(async () => {
  sys = await startTestSystem();
  fx = await Fixtures.create(sys);
  w = await saleWorld(sys, fx);
});
test.after(async () => await sys?.stop());

test("a decline on the driver's own line: reason, advice, one in-app notice and one push, also after a retry", async () => {
  const bank = await fx.bank(1_000_000n);
  const d = await fx.driver();
  await bank.credit.createCreditLine({ owner: { case: "driverId", value: d.driverId }, currency: "NGN", limitOverride: ngn(10_000n), overrideReason: "small" });
  const me = connectJson(NotificationService, sys.gatewayUrl, d.token);
  await me.registerPushDevice({ platform: PushPlatform.ANDROID, deviceToken: `dev-${randomUUID()}` }, { headers: { "idempotency-key": randomUUID() } });
  const world: SaleWorld = { ...w, driverId: d.driverId, app: connectJson(TransactionService, sys.gatewayUrl, d.token) };

  const key = randomUUID();
  const t = await authorize(world, 50_000n, key);
  assert.is(t.status, TransactionStatus.DECLINED);
  assert.is(t.declineReason, DeclineReason.INSUFFICIENT_CREDIT);
  assert.is(t.declineAdvice, DeclineAdvice.REDUCE_AMOUNT);
  // The terminal retries with the same key: the same answer, no second decline.
  const again = (await world.pos.unary(TransactionService.method.authorize, {
    qrPayload: "replayed", stationId: world.stationId, fuelType: FuelType.PETROL, requestedAmount: ngn(50_000n),
  }, { "idempotency-key": key }).catch(() => null));
  if (again) assert.is(again.message.transaction!.transactionId, t.transactionId);

  const notes = await declineNotices(d.token, "the driver's decline notice");
  assert.is(notes.length, 1, "one notice per decline");
  assert.match(notes[0]!.body, "not enough credit");
  assert.match(notes[0]!.body, "smaller amount");
  const pushes = await until("the driver's push", async () => {
    const p = (await me.listDeliveries({ pageSize: 200 })).deliveries.filter((x) => x.channel === Channel.PUSH && x.subject === "Fuel purchase declined");
    return p.length > 0 ? p : undefined;
  });
  assert.is(pushes.length, 1);
  assert.is(await outboxRows(t.transactionId), 1);
  // Delivered rows stay delivered: a later pass sends nothing again.
  await new Promise((r) => setTimeout(r, 1_500));
  assert.is((await me.listNotifications({ pageSize: 200 })).notifications.filter((x) => x.kind === "PURCHASE_DECLINED").length, 1);
});

test("a decline on an agency's line also tells the agency's admins; a suspended driver is told to ask the lender", async () => {
  const bank = await fx.bank(1_000_000n);
  const agency = await fx.verifiedAgency();
  const root = (await bank.credit.createCreditLine({ owner: { case: "agencyId", value: agency.agencyId }, currency: "NGN", limitOverride: ngn(5_000n), overrideReason: "small" })).creditLine!;
  const d = await fx.driver(agency.agencyId);
  await bank.credit.createCreditLine({ owner: { case: "driverId", value: d.driverId }, currency: "NGN", parentCreditLineId: root.creditLineId });
  const rootToken = fx.adminToken;
  const users = connectJson(AuthService, sys.gatewayUrl, rootToken);
  const admin = (await users.createUser({ phone: newPhone("+23491"), displayName: "Fleet Admin", role: Role.AGENCY_ADMIN, organizationId: agency.agencyId }, { headers: { "idempotency-key": randomUUID() } })).user!;
  const adminToken = await mintAccessToken(sys, principal(Role.AGENCY_ADMIN, { subjectId: admin.userId, agencyId: agency.agencyId }));
  const world: SaleWorld = { ...w, driverId: d.driverId, app: connectJson(TransactionService, sys.gatewayUrl, d.token) };

  const t = await authorize(world, 9_000n);
  // The sub-line mirrors the agency's limit: both are short; the driver's is checked first.
  assert.is(t.declineReason, DeclineReason.INSUFFICIENT_CREDIT);
  assert.is(t.declineAdvice, DeclineAdvice.REDUCE_AMOUNT);
  const forAdmin = await until("the agency admin's notice", async () => {
    const n = (await inbox(adminToken).listNotifications({ pageSize: 200 })).notifications.filter((x) => x.kind === "DRIVER_PURCHASE_DECLINED");
    return n.length > 0 ? n : undefined;
  });
  assert.is(forAdmin.length, 1);
  assert.match(forAdmin[0]!.body, "was declined");
  assert.match(forAdmin[0]!.body, "insufficient credit");
  assert.is((await declineNotices(d.token, "the agency driver's notice")).length, 1);

  // A driver suspended after their QR was shown: declined before any hold (the intent
  // records the decline and its notices in one statement), and told to ask their lender.
  const suspended = await fx.driver();
  await bank.credit.createCreditLine({ owner: { case: "driverId", value: suspended.driverId }, currency: "NGN" });
  const s: SaleWorld = { ...w, driverId: suspended.driverId, app: connectJson(TransactionService, sys.gatewayUrl, suspended.token) };
  const qr = await qrPayload(s);
  const kyc = new pg.Client({ connectionString: sys.databaseOf("kyc") });
  await kyc.connect();
  try {
    await kyc.query(`UPDATE kyc.drivers SET status = 'SUSPENDED' WHERE driver_id = $1`, [suspended.driverId]);
  } finally {
    await kyc.end();
  }
  const k = (await s.pos.unary(TransactionService.method.authorize, {
    qrPayload: qr.payload, stationId: s.stationId, fuelType: FuelType.PETROL, requestedAmount: ngn(1_000n),
  }, { "idempotency-key": randomUUID() })).message.transaction!;
  assert.is(k.declineReason, DeclineReason.DRIVER_INACTIVE);
  assert.is(k.declineAdvice, DeclineAdvice.CONTACT_LENDER);
  assert.is(await outboxRows(k.transactionId), 1);
  const n = await declineNotices(suspended.token, "the suspended driver's notice");
  assert.match(n[0]!.body, "not active");

  // An approved sale owes no notice.
  const ok = await authorize(world, 1_000n);
  assert.is(ok.status, TransactionStatus.AUTHORIZED);
  assert.is(ok.declineAdvice, DeclineAdvice.UNSPECIFIED);
  assert.is(await outboxRows(ok.transactionId), 0);
});

test.run();
