// Trace ids and personal data in logs, observed from the outside: every log line of every
// service is captured while a driver logs in by OTP, onboards and is reviewed through the
// gateway. One trace id must run gateway → kyc → notification, and the sentinel phone,
// national ID, OTP code and tokens must appear in no log line.
import { Writable } from "node:stream";
import { randomUUID } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Role } from "../gen/fuel/common/v1/common_pb.js";
import { createLogger, log, setLogger } from "../platform/logger.js";
import { postJson } from "./helpers/clients.js";
import { waitForMessage } from "./helpers/inbox.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";

const test = suite("observability");
const PHONE = "+2348077712345";
const NATIONAL_ID = "NIN55512398765";
const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==", "base64");

let sys: TestSystem;
const lines: string[] = [];
const original = log;

test.before(async () => {
  sys = await startTestSystem();
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...chunk.toString().split("\n").filter(Boolean));
      cb();
    },
  });
  setLogger(createLogger({ level: "debug", destination: sink }));
});
test.after(async () => {
  setLogger(original);
  await sys?.stop();
});

const call = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  postJson(sys.gatewayUrl, path, body, { "idempotency-key": randomUUID(), ...headers });

let otpCode = "";
let secrets: string[] = [];

test("a driver's whole onboarding through the gateway", async () => {
  const sentAt = new Date();
  assert.is((await call("fuel.auth.v1.AuthService/CustomerRequestOtp", { phone: PHONE })).status, 200);
  const sms = await waitForMessage(sys.devInbox!, { channel: "sms", to: PHONE }, { after: sentAt });
  otpCode = sms.body.match(/\b(\d{6})\b/)![1]!;
  // A wrong code first: failures are logged too, and must not leak either.
  assert.is((await call("fuel.auth.v1.AuthService/CustomerVerifyOtp", { phone: PHONE, code: otpCode === "000000" ? "111111" : "000000" })).status, 401);
  const verified = await call("fuel.auth.v1.AuthService/CustomerVerifyOtp", { phone: PHONE, code: otpCode });
  assert.is(verified.status, 200);
  const onboardingToken = verified.json.onboardingToken as string;
  const onboard = await call("fuel.kyc.v1.KycService/OnboardDriver", {
    onboardingToken,
    fullName: "Canary Driver",
    nationalId: NATIONAL_ID,
    driverLicenseNumber: "LIC-77712",
    vehicle: { plateNumber: "KJA 123 AB", fuelType: "FUEL_TYPE_PETROL", tankCapacityMl: "50000" },
  });
  assert.is(onboard.status, 200, JSON.stringify(onboard.json));
  assert.not.ok(JSON.stringify(onboard.json.driver).includes(NATIONAL_ID), "national ID is masked in responses");
  secrets = [onboardingToken, onboard.json.session.accessToken, onboard.json.session.refreshToken];
  const auth = { authorization: `Bearer ${onboard.json.session.accessToken}` };
  const up = await call("fuel.kyc.v1.KycService/UploadDocument", {
    owner: { driverId: onboard.json.driver.driverId },
    documentType: "DOCUMENT_TYPE_NATIONAL_ID",
    content: PNG.toString("base64"),
    fileName: "id.png",
  }, auth);
  assert.is(up.status, 200, JSON.stringify(up.json));

  // The reviewer's decision: gateway → kyc (write + outbox) → notification (in-app).
  const reviewer = await mintAccessToken(sys, principal(Role.BANK_ADMIN, { bankId: randomUUID() }));
  const review = await call("fuel.kyc.v1.KycService/VerifyDocument", { documentId: up.json.document.documentId, decision: "DECISION_APPROVE" }, { authorization: `Bearer ${reviewer}` });
  assert.is(review.status, 200, JSON.stringify(review.json));
  const traceId = review.headers.get("x-trace-id")!;
  assert.match(traceId, /^[0-9a-f]{32}$/);

  // One trace id, three services: the same id on the gateway's, kyc's and notification's lines.
  const seen = new Set<string>();
  for (let i = 0; i < 100 && !seen.has("notification"); i++) {
    await new Promise((r) => setTimeout(r, 50));
    for (const l of lines) {
      const e = JSON.parse(l) as { trace_id?: string; service?: string; msg?: string };
      if (e.trace_id === traceId && e.msg === "rpc" && e.service) seen.add(e.service);
    }
  }
  assert.equal([...seen].sort(), ["gateway", "kyc", "notification"], `services seen on trace ${traceId}`);
});

test("every log line carries a trace id and none carries personal data or secrets", () => {
  assert.ok(lines.length > 20, `captured ${lines.length} lines`);
  const digits = PHONE.slice(1);
  for (const line of lines) {
    assert.not.ok(line.includes(digits), `phone in log: ${line}`);
    assert.not.ok(line.includes(digits.slice(3)), `local phone number in log: ${line}`);
    assert.not.ok(line.includes(NATIONAL_ID), `national ID in log: ${line}`);
    assert.not.ok(new RegExp(`\\b${otpCode}\\b`).test(line), `OTP in log: ${line}`);
    for (const s of secrets) assert.not.ok(line.includes(s.slice(0, 40)), `token in log: ${line}`);
    const entry = JSON.parse(line) as { msg?: string; trace_id?: string };
    if (entry.msg === "rpc") assert.match(entry.trace_id ?? "", /^[0-9a-f]{32}$/);
  }
});

test.run();
