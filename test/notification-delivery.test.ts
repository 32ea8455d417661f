// Delivery to real outside servers started by the test: an SMTP server (smtp-server) and
// a Twilio-shaped HTTP SMS endpoint, each able to fail on purpose. Proves e-mail really
// goes out over SMTP, and that an outbox entry survives provider errors and is delivered
// on a later attempt — or ends FAILED when the provider refuses it for good.
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { SMTPServer } from "smtp-server";
import type { Client } from "@connectrpc/connect";
import { Role } from "../gen/fuel/common/v1/common_pb.js";
import { DeliveryStatus, NotificationService, type Delivery } from "../gen/fuel/notification/v1/notification_pb.js";
import { connectJson } from "./helpers/clients.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";

const test = suite("notification-delivery");

interface Received {
  from: string;
  to: string[];
  raw: string;
}
const mails: Received[] = [];
/** Next DATA commands to refuse with 451 (transient), then accept. */
let smtpFailuresLeft = 0;
let smtpCalls = 0;
let smtp: SMTPServer;
let smtpPort = 0;

const smsReceived: Array<{ to: string; body: string; auth: string }> = [];
let smsFailuresLeft = 0;
let smsCalls = 0;
let smsServer: Server;

let sys: TestSystem;
let admin: Client<typeof NotificationService>;
const key = () => ({ headers: { "idempotency-key": randomUUID() } });

test.before(async () => {
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ["AUTH", "STARTTLS"],
    logger: false,
    onRcptTo(address, _session, cb) {
      if (address.address.startsWith("bounce")) return cb(Object.assign(new Error("no such mailbox"), { responseCode: 550 }));
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        smtpCalls++;
        if (smtpFailuresLeft > 0) {
          smtpFailuresLeft--;
          return cb(Object.assign(new Error("try again later"), { responseCode: 451 }));
        }
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString("utf8"),
        });
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, "127.0.0.1", () => resolve()));
  smtpPort = (smtp.server.address() as AddressInfo).port;

  smsServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      smsCalls++;
      if (req.method !== "POST" || req.url !== "/2010-04-01/Accounts/ACtest/Messages.json") {
        res.writeHead(404).end();
        return;
      }
      if (smsFailuresLeft > 0) {
        smsFailuresLeft--;
        res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ code: 20500, message: "Service unavailable", status: 503 }));
        return;
      }
      const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
      smsReceived.push({ to: form.get("To") ?? "", body: form.get("Body") ?? "", auth: req.headers.authorization ?? "" });
      res.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify({ sid: `SM${randomUUID().replace(/-/g, "")}`, status: "queued" }));
    });
  });
  await new Promise<void>((resolve) => smsServer.listen(0, "127.0.0.1", () => resolve()));
  const smsPort = (smsServer.address() as AddressInfo).port;

  sys = await startTestSystem({
    env: {
      SMTP_URL: `smtp://127.0.0.1:${smtpPort}?from=${encodeURIComponent("Fuel Test <noreply@fuel.test>")}`,
      SMS_API_URL: `http://ACtest:secret-token@127.0.0.1:${smsPort}?from=FUELTEST`,
    },
  });
  admin = connectJson(NotificationService, sys.gatewayUrl, await mintAccessToken(sys, principal(Role.SYSTEM_ADMIN)));
});

test.after(async () => {
  await sys?.stop();
  await new Promise<void>((resolve) => (smtp ? smtp.close(() => resolve()) : resolve()));
  await new Promise<void>((resolve) => (smsServer ? smsServer.close(() => resolve()) : resolve()));
});

/** Waits for a final status; moves the service clock forward so backoff waits pass quickly. */
async function settle(id: string, timeoutMs = 10_000): Promise<Delivery> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await admin.listDeliveries({ pageSize: 200 });
    const d = res.deliveries.find((x) => x.deliveryId === id);
    if (d && d.status !== DeliveryStatus.QUEUED) return d;
    if (Date.now() > deadline) throw new Error(`delivery ${id} still queued (${d?.attempts} attempts, ${d?.lastError})`);
    if (d?.nextAttemptTime && d.attempts > 0) {
      // Jump the service clock to the scheduled retry instead of sleeping through backoff.
      const wait = Number(d.nextAttemptTime.seconds) * 1000 + Math.floor(d.nextAttemptTime.nanos / 1e6) - sys.clock.now().getTime();
      if (wait > 0) sys.clock.advance(wait + 5);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("the dev inbox is not started when real providers are configured", () => {
  assert.is(sys.devInbox, null);
});

test("an e-mail is delivered over SMTP to the server started by the test", async () => {
  const res = await admin.sendEmail(
    { toAddress: "driver@example.com", subject: "Your statement", textBody: "Balance: 12 000 NGN\nThank you.", htmlBody: "<p>Balance: 12 000 NGN</p>" },
    key(),
  );
  assert.is(res.delivery!.status, DeliveryStatus.QUEUED);
  const d = await settle(res.delivery!.deliveryId);
  assert.is(d.status, DeliveryStatus.SENT);
  assert.is(d.attempts, 1);
  assert.ok(d.providerMessageId.length > 0);
  const mail = mails.find((m) => m.to.includes("driver@example.com"));
  assert.ok(mail, "the SMTP server received it");
  assert.is(mail!.from, "noreply@fuel.test");
  assert.match(mail!.raw, /^Subject: Your statement\r?$/m);
  assert.match(mail!.raw, /^From: Fuel Test <noreply@fuel\.test>\r?$/m);
  assert.match(mail!.raw, /Balance: 12 000 NGN/);
  assert.match(mail!.raw, /multipart\/alternative/);
});

test("an e-mail survives transient SMTP errors and is delivered on retry", async () => {
  smtpFailuresLeft = 2;
  const callsBefore = smtpCalls;
  const res = await admin.sendEmail({ toAddress: "retry@example.com", subject: "Retry me", textBody: "third time lucky" }, key());
  const d = await settle(res.delivery!.deliveryId);
  assert.is(d.status, DeliveryStatus.SENT);
  assert.is(d.attempts, 3);
  assert.ok(d.attempts > 1);
  assert.is(smtpCalls - callsBefore, 3);
  assert.is(d.lastError, "");
  assert.is(mails.filter((m) => m.to.includes("retry@example.com")).length, 1, "delivered exactly once");
});

test("an SMS survives the provider being down (HTTP 503) and is delivered on retry", async () => {
  smsFailuresLeft = 2;
  const res = await admin.sendSms({ toPhone: "+2348099990000", body: "Your code is 120934" }, key());
  assert.is(res.delivery!.status, DeliveryStatus.QUEUED);
  const d = await settle(res.delivery!.deliveryId);
  assert.is(d.status, DeliveryStatus.SENT);
  assert.is(d.attempts, 3);
  assert.match(d.providerMessageId, /^SM/);
  const got = smsReceived.filter((s) => s.to === "+2348099990000");
  assert.is(got.length, 1);
  assert.is(got[0]!.body, "Your code is 120934");
  assert.is(got[0]!.auth, `Basic ${Buffer.from("ACtest:secret-token").toString("base64")}`);
});

test("a permanent refusal (SMTP 550) ends FAILED after one attempt, without retries", async () => {
  const callsBefore = smtpCalls;
  const res = await admin.sendEmail({ toAddress: "bounce@example.com", subject: "Nope", textBody: "never arrives" }, key());
  const d = await settle(res.delivery!.deliveryId);
  assert.is(d.status, DeliveryStatus.FAILED);
  assert.is(d.attempts, 1);
  assert.is(d.lastError, "INVALID_RECIPIENT");
  assert.is(smtpCalls, callsBefore, "DATA never reached");
});

test("push without a configured provider stays queued for retry (nothing is lost)", async () => {
  // PUSH_API_URL is unset in this suite: the message waits in the outbox.
  const user = randomUUID();
  const p = principal(Role.DRIVER, { subjectId: user, driverId: randomUUID() });
  const driver = connectJson(NotificationService, sys.gatewayUrl, await mintAccessToken(sys, p));
  await driver.registerPushDevice({ platform: 1, deviceToken: `tok-${randomUUID()}` }, key());
  const res = await admin.sendPush({ userId: user, title: "Hi", body: "waiting" }, key());
  const deadline = Date.now() + 5_000;
  let d: Delivery | undefined;
  while (Date.now() < deadline) {
    d = (await admin.listDeliveries({ userId: user })).deliveries.find((x) => x.deliveryId === res.delivery!.deliveryId);
    if (d && d.attempts >= 1 && d.lastError !== "") break; // attempt made and recorded
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.is(d!.status, DeliveryStatus.QUEUED);
  assert.is(d!.lastError, "PROVIDER_NOT_CONFIGURED");
  assert.ok(d!.nextAttemptTime, "a next attempt is scheduled");
});

test("a provider that never recovers: 8 attempts, then FAILED with the last error", async () => {
  smsFailuresLeft = 1_000;
  try {
    const res = await admin.sendSms({ toPhone: "+2348099990001", body: "doomed" }, key());
    const d = await settle(res.delivery!.deliveryId, 20_000);
    assert.is(d.status, DeliveryStatus.FAILED);
    assert.is(d.attempts, 8);
    assert.is(d.lastError, "PROVIDER_UNAVAILABLE");
    assert.is(d.nextAttemptTime, undefined);
  } finally {
    smsFailuresLeft = 0;
  }
});

test.run();
