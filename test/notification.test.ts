// NotificationService through the gateway with the dev provider as the outside world:
// SMS over the Twilio-shaped API, push over the FCM-shaped API, in-app notifications,
// the delivery history and who sees what, outbox dedupe and crash recovery, bad input.
import { randomUUID } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import pg from "pg";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { Role } from "../gen/fuel/common/v1/common_pb.js";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import {
  Channel,
  DeliveryStatus,
  NotificationService,
  PushPlatform,
  type Delivery,
} from "../gen/fuel/notification/v1/notification_pb.js";
import { connectJson, postJson } from "./helpers/clients.js";
import { waitForMessage } from "./helpers/inbox.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";
import type { Principal } from "../platform/context.js";

const test = suite("notification");
let sys: TestSystem;
let db: pg.Client;
let adminP: Principal;
let admin: Client<typeof NotificationService>;
const users: Record<"alice" | "bob", { p: Principal; client: Client<typeof NotificationService> }> = {} as never;

const key = () => ({ headers: { "idempotency-key": randomUUID() } });

test.before(async () => {
  sys = await startTestSystem();
  adminP = principal(Role.SYSTEM_ADMIN);
  tokens.admin = await mintAccessToken(sys, adminP);
  admin = connectJson(NotificationService, sys.gatewayUrl, tokens.admin);
  for (const name of ["alice", "bob"] as const) {
    const p = principal(Role.DRIVER, { driverId: randomUUID() });
    tokens[name] = await mintAccessToken(sys, p);
    users[name] = { p, client: connectJson(NotificationService, sys.gatewayUrl, tokens[name]) };
  }
  db = new pg.Client({ connectionString: sys.databaseUrl });
  await db.connect();
});
test.after(async () => {
  await db?.end();
  await sys?.stop();
});

async function deliveryNow(id: string): Promise<Delivery> {
  const res = await admin.listDeliveries({ pageSize: 200 });
  const d = res.deliveries.find((x) => x.deliveryId === id);
  if (!d) throw new Error(`delivery ${id} not listed`);
  return d;
}

async function waitForStatus(id: string, status: DeliveryStatus, timeoutMs = 8_000): Promise<Delivery> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const d = await deliveryNow(id);
    if (d.status === status) return d;
    if (Date.now() > deadline) throw new Error(`delivery ${id} is ${DeliveryStatus[d.status]} (${d.lastError}), not ${DeliveryStatus[status]}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const tokens: Record<string, string> = {};
const stringify = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x));

/** A raw Connect JSON call expected to fail INVALID_ARGUMENT; returns the named field. */
async function invalidField(method: string, body: unknown, who: "admin" | "alice" = "admin", headers: Record<string, string> = {}): Promise<string> {
  const res = await postJson(sys.gatewayUrl, `fuel.notification.v1.NotificationService/${method}`, body, {
    authorization: `Bearer ${tokens[who]}`,
    "idempotency-key": randomUUID(),
    ...headers,
  });
  assert.is(res.status, 400, `${method} ${stringify(body).slice(0, 80)}: HTTP ${res.status} ${stringify(res.json).slice(0, 200)}`);
  assert.is(res.json.code, "invalid_argument");
  const info = (res.json.details as Array<{ type: string; debug?: { metadata?: Record<string, string> } }>).find((d) => d.type === "google.rpc.ErrorInfo");
  return info?.debug?.metadata?.field ?? "";
}

test("SendSms is queued, then delivered to the dev inbox over the Twilio-shaped API", async () => {
  const phone = "+2348031234567";
  const before = new Date();
  const res = await admin.sendSms({ toPhone: phone, body: "Your code is 482913", userId: users.alice.p.subjectId }, key());
  const d = res.delivery!;
  assert.is(d.channel, Channel.SMS);
  assert.ok(d.status === DeliveryStatus.QUEUED || d.status === DeliveryStatus.SENT);
  assert.is(d.recipientMasked, "+234*******567");
  assert.not.match(stringify(res), phone);
  const msg = await waitForMessage(sys.devInbox!, { channel: "sms", to: phone }, { after: before });
  assert.is(msg.body, "Your code is 482913");
  const sent = await waitForStatus(d.deliveryId, DeliveryStatus.SENT);
  assert.is(sent.attempts, 1);
  assert.match(sent.providerMessageId, /^SM[0-9a-f]{32}$/);
  assert.ok(sent.sentTime);
  assert.is(sent.nextAttemptTime, undefined);
  // Content is forgotten once delivered; the recipient stays (masked) for the history.
  const row = (await db.query(`SELECT body, recipient FROM notification.deliveries WHERE delivery_id = $1`, [d.deliveryId])).rows[0];
  assert.is(row.body, "");
  assert.is(row.recipient, phone);
});

test("SendEmail through the dev SMTP server lands in the dev inbox", async () => {
  const to = "Driver.One@Example.com";
  const res = await admin.sendEmail({ toAddress: to, subject: "Welcome", textBody: "Hello\nthere", htmlBody: "<p>Hello there</p>" }, key());
  assert.is(res.delivery!.recipientMasked, "d***@example.com");
  const msg = await waitForMessage(sys.devInbox!, { channel: "email", to: "driver.one@example.com" });
  assert.is(msg.subject, "Welcome");
  assert.is(msg.body, "Hello\nthere");
  await waitForStatus(res.delivery!.deliveryId, DeliveryStatus.SENT);
});

test("the same idempotency key queues one outbox row, even after the Redis record is lost", async () => {
  const k = `sms-dedupe-${randomUUID()}`;
  const req = { toPhone: "+2348030000001", body: "once only" };
  const first = await admin.sendSms(req, { headers: { "idempotency-key": k } });
  await sys.infra.kv.del(`idem:notification:fuel.notification.v1.NotificationService/SendSms:${adminP.subjectId}:${k}`);
  const again = await admin.sendSms(req, { headers: { "idempotency-key": k } });
  assert.is(again.delivery!.deliveryId, first.delivery!.deliveryId);
  const n = (await db.query(`SELECT count(*)::int AS n FROM notification.deliveries WHERE idem_key = $1`, [k])).rows[0].n;
  assert.is(n, 1);
  await waitForStatus(first.delivery!.deliveryId, DeliveryStatus.SENT);
  assert.is(sys.devInbox!.messages({ channel: "sms", to: "+2348030000001" }).length, 1);
  // Same key, different message, Redis record gone: refused, not silently swapped.
  await sys.infra.kv.del(`idem:notification:fuel.notification.v1.NotificationService/SendSms:${adminP.subjectId}:${k}`);
  assert.is(await invalidField("SendSms", { ...req, body: "something else" }, "admin", { "idempotency-key": k }), "idempotency-key");
});

test("each delivery row keeps the trace id of the call that queued it", async () => {
  const res = await admin.sendSms({ toPhone: "+2348030000002", body: "traced" }, key());
  const row = (await db.query(`SELECT trace_id FROM notification.deliveries WHERE delivery_id = $1`, [res.delivery!.deliveryId])).rows[0];
  assert.match(row.trace_id, /^[0-9a-f]{32}$/);
});

test("a delivery whose worker died mid-attempt is claimed again when its lease expires", async () => {
  const id = randomUUID();
  const past = new Date(sys.clock.now().getTime() - 120_000);
  await db.query(
    `INSERT INTO notification.deliveries (delivery_id, channel, recipient, subject, body, status, attempts, next_attempt_time, locked_until,
       idem_scope, idem_key, request_hash, create_time)
     VALUES ($1, 'SMS', '+2348030000003', '', 'left behind by a crash', 'QUEUED', 1, $2, $2, 'test', $3, 'x', $2)`,
    [id, past, id],
  );
  const msg = await waitForMessage(sys.devInbox!, { channel: "sms", to: "+2348030000003" });
  assert.is(msg.body, "left behind by a crash");
  const d = await waitForStatus(id, DeliveryStatus.SENT);
  assert.is(d.attempts, 2);
});

test("push: a registered device gets it over the FCM-shaped API; no devices → FAILED NO_DEVICES", async () => {
  const token = `fcm-token-${randomUUID()}`;
  const reg = await users.alice.client.registerPushDevice({ platform: PushPlatform.ANDROID, deviceToken: token }, key());
  assert.match(reg.deviceId, /^[0-9a-f-]{36}$/);
  const again = await users.alice.client.registerPushDevice({ platform: PushPlatform.ANDROID, deviceToken: token }, key());
  assert.is(again.deviceId, reg.deviceId, "registering the same token again refreshes it");
  const res = await admin.sendPush({ userId: users.alice.p.subjectId, title: "Approved", body: "Your licence was approved", data: { kind: "KYC" } }, key());
  assert.is(res.delivery!.status, DeliveryStatus.QUEUED);
  assert.is(res.delivery!.recipientMasked, "");
  const msg = await waitForMessage(sys.devInbox!, { channel: "push", to: token });
  assert.is(msg.subject, "Approved");
  assert.is(msg.body, "Your licence was approved");
  const sent = await waitForStatus(res.delivery!.deliveryId, DeliveryStatus.SENT);
  assert.match(sent.providerMessageId, /^projects\/fuel-dev\/messages\//);

  const none = await admin.sendPush({ userId: users.bob.p.subjectId, title: "Hi", body: "nobody listens" }, key());
  assert.is(none.delivery!.status, DeliveryStatus.FAILED);
  assert.is(none.delivery!.lastError, "NO_DEVICES");
});

test("in-app: list newest first with pagination and unread count; mark read only one's own", async () => {
  const alice = users.alice.p.subjectId;
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    sys.clock.advance(1_000);
    const res = await admin.sendInApp({ userId: alice, title: `Note ${i}`, body: `Body ${i}`, kind: "TEST_NOTE" }, key());
    assert.is(res.notification!.title, `Note ${i}`);
    ids.push(res.notification!.notificationId);
  }
  const bobNote = (await admin.sendInApp({ userId: users.bob.p.subjectId, title: "Bob's", body: "private" }, key())).notification!;

  const p1 = await users.alice.client.listNotifications({ pageSize: 2 });
  assert.equal(p1.notifications.map((n) => n.title), ["Note 4", "Note 3"]);
  assert.is(p1.unreadCount, 5);
  assert.ok(p1.nextPageToken);
  const p2 = await users.alice.client.listNotifications({ pageSize: 2, pageToken: p1.nextPageToken });
  assert.equal(p2.notifications.map((n) => n.title), ["Note 2", "Note 1"]);
  const p3 = await users.alice.client.listNotifications({ pageSize: 2, pageToken: p2.nextPageToken });
  assert.equal(p3.notifications.map((n) => n.title), ["Note 0"]);
  assert.is(p3.nextPageToken, "");

  // Bob cannot mark Alice's; his own list does not show hers.
  const bobMark = await users.bob.client.markNotificationsRead({ notificationIds: [ids[0]!, ids[1]!] }, key());
  assert.is(bobMark.markedCount, 0);
  const bobList = await users.bob.client.listNotifications({});
  assert.equal(bobList.notifications.map((n) => n.notificationId), [bobNote.notificationId]);

  const mark = await users.alice.client.markNotificationsRead({ notificationIds: [ids[0]!, ids[1]!, bobNote.notificationId] }, key());
  assert.is(mark.markedCount, 2);
  const again = await users.alice.client.markNotificationsRead({ notificationIds: [ids[0]!] }, key());
  assert.is(again.markedCount, 0, "already read");
  const unread = await users.alice.client.listNotifications({ unreadOnly: true });
  assert.equal(unread.notifications.map((n) => n.title), ["Note 4", "Note 3", "Note 2"]);
  assert.is(unread.unreadCount, 3);
  const all = await users.alice.client.listNotifications({});
  assert.ok(all.notifications.find((n) => n.notificationId === ids[0])!.readTime);
  assert.is((await users.bob.client.listNotifications({})).unreadCount, 1);
});

test("ListDeliveries: a person sees only their own, an admin sees all and filters", async () => {
  const mine = await users.bob.client.listDeliveries({});
  assert.ok(mine.deliveries.length > 0);
  assert.ok(mine.deliveries.every((d) => d.userId === users.bob.p.subjectId));
  // Asking for someone else's still answers with one's own.
  const sneaky = await users.bob.client.listDeliveries({ userId: users.alice.p.subjectId });
  assert.ok(sneaky.deliveries.every((d) => d.userId === users.bob.p.subjectId));

  const all = await admin.listDeliveries({ pageSize: 200 });
  assert.ok(all.deliveries.some((d) => d.userId === users.alice.p.subjectId));
  assert.ok(all.deliveries.some((d) => d.userId === ""));
  const aliceInApp = await admin.listDeliveries({ userId: users.alice.p.subjectId, channel: Channel.IN_APP });
  assert.is(aliceInApp.deliveries.length, 5);
  assert.ok(aliceInApp.deliveries.every((d) => d.status === DeliveryStatus.SENT && d.channel === Channel.IN_APP));
  const failed = await admin.listDeliveries({ status: DeliveryStatus.FAILED });
  assert.ok(failed.deliveries.length >= 1 && failed.deliveries.every((d) => d.status === DeliveryStatus.FAILED));

  // Pages of 3 walk everything exactly once, newest first.
  const seen: string[] = [];
  let token = "";
  do {
    const page = await admin.listDeliveries({ pageSize: 3, pageToken: token });
    assert.ok(page.deliveries.length <= 3);
    seen.push(...page.deliveries.map((d) => d.deliveryId));
    token = page.nextPageToken;
  } while (token);
  assert.equal(seen, all.deliveries.map((d) => d.deliveryId));
  // No raw recipient anywhere in the history.
  assert.not.match(stringify(all), "+2348031234567");
  assert.not.match(stringify(all), "driver.one@example.com");
});

test("a driver may not send; a driver's token cannot read another's notifications", async () => {
  try {
    await users.alice.client.sendSms({ toPhone: "+2348030000009", body: "x" }, key());
    assert.unreachable("driver sent an SMS");
  } catch (err) {
    assert.is(ConnectError.from(err).code, Code.PermissionDenied);
  }
});

test("bad input on each method → INVALID_ARGUMENT naming the field", async () => {
  const u = users.alice.p.subjectId;
  const cases: Array<[field: string, method: string, body: unknown, who?: "admin" | "alice"]> = [
    ["to_phone", "SendSms", { toPhone: "08031234567", body: "x" }],
    ["body", "SendSms", { toPhone: "+2348031234567", body: "" }],
    ["body", "SendSms", { toPhone: "+2348031234567", body: "x".repeat(1601) }],
    ["user_id", "SendSms", { toPhone: "+2348031234567", body: "x", userId: "nope" }],
    ["to_address", "SendEmail", { toAddress: "not-an-email", subject: "s", textBody: "t" }],
    ["subject", "SendEmail", { toAddress: "a@b.co", subject: "", textBody: "t" }],
    ["subject", "SendEmail", { toAddress: "a@b.co", subject: "s".repeat(201), textBody: "t" }],
    ["text_body", "SendEmail", { toAddress: "a@b.co", subject: "s", textBody: "" }],
    ["text_body", "SendEmail", { toAddress: "a@b.co", subject: "s", textBody: "x".repeat(100_001) }],
    ["user_id", "SendEmail", { toAddress: "a@b.co", subject: "s", textBody: "t", userId: "x" }],
    ["user_id", "SendPush", { userId: "", title: "t", body: "b" }],
    ["title", "SendPush", { userId: u, title: "", body: "b" }],
    ["body", "SendPush", { userId: u, title: "t", body: "b".repeat(1001) }],
    ["data", "SendPush", { userId: u, title: "t", body: "b", data: { from: "x" } }],
    ["user_id", "SendInApp", { userId: "123", title: "t", body: "b" }],
    ["title", "SendInApp", { userId: u, title: "t".repeat(101), body: "b" }],
    ["body", "SendInApp", { userId: u, title: "t", body: "" }],
    ["kind", "SendInApp", { userId: u, title: "t", body: "b", kind: "lower case" }],
    ["platform", "RegisterPushDevice", { deviceToken: "token-1234567890" }, "alice"],
    ["platform", "RegisterPushDevice", { platform: 99, deviceToken: "token-1234567890" }, "alice"],
    ["device_token", "RegisterPushDevice", { platform: "PUSH_PLATFORM_IOS", deviceToken: "short" }, "alice"],
    ["page_size", "ListNotifications", { pageSize: -1 }, "alice"],
    ["page_token", "ListNotifications", { pageToken: "garbage!" }, "alice"],
    ["page_token", "ListNotifications", { pageToken: Buffer.from(JSON.stringify({ t: "x", id: "y" })).toString("base64url") }, "alice"],
    ["notification_ids", "MarkNotificationsRead", { notificationIds: [] }, "alice"],
    ["notification_ids", "MarkNotificationsRead", { notificationIds: ["not-a-uuid"] }, "alice"],
    ["notification_ids", "MarkNotificationsRead", { notificationIds: Array.from({ length: 101 }, () => randomUUID()) }, "alice"],
    ["page_size", "ListDeliveries", { pageSize: -500 }],
    ["page_token", "ListDeliveries", { pageToken: "%%%" }],
    ["user_id", "ListDeliveries", { userId: "someone" }],
    ["channel", "ListDeliveries", { channel: 42 }],
    ["status", "ListDeliveries", { status: 42 }],
  ];
  for (const [field, method, body, who] of cases) {
    assert.is(await invalidField(method, body, who ?? "admin"), field, `${method}: expected ${field}`);
  }
  // Nothing of the refused sends reached the outbox.
  const n = (await db.query(`SELECT count(*)::int AS n FROM notification.deliveries WHERE recipient = 'a@b.co'`)).rows[0].n;
  assert.is(n, 0);
});

test.run();
