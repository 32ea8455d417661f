// OTP login end to end, as the mobile app does it: Connect JSON through the gateway,
// the code read from the SMS that NotificationService delivered to the dev inbox.
// Expiry (service clock), five wrong tries, single use, replacement, send quotas per
// phone and per IP, identical answers for unknown phones, nothing readable in Redis.
import { randomUUID } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { AuthService } from "../gen/fuel/auth/v1/auth_pb.js";
import { Role } from "../gen/fuel/common/v1/common_pb.js";
import { RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { reasonOf } from "../platform/errors.js";
import { SERVICE_TOKEN_HEADER } from "../platform/interceptors/authenticate.js";
import { ONBOARDING_TOKEN_TYP, ServiceTokens } from "../platform/tokens.js";
import { OTP_MAX_TRIES, phoneKey } from "../services/auth/otp-code.js";
import { otpKeys } from "../services/auth/otp-store.js";
import type { AuthContext } from "../services/auth/context.js";
import { fails, idem, newPhone as phoneUnder, peerClient } from "./helpers/rpc.js";
import { connectJson, postJson } from "./helpers/clients.js";
import { waitForMessage } from "./helpers/inbox.js";
import { createBank, createMerchant } from "./helpers/orgs.js";
import { keysEverywhere } from "./helpers/redis-keys.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";

const test = suite("auth-otp");
let sys: TestSystem;
let anon: Client<typeof AuthService>;
let root: Client<typeof AuthService>;
let rootToken: string;

test.before(async () => {
  // KycService: staff are bound to organisations that exist.
  sys = await startTestSystem({ services: ["auth", "notification", "kyc"] });
  anon = connectJson(AuthService, sys.gatewayUrl);
  rootToken = await mintAccessToken(sys, principal(Role.SYSTEM_ADMIN));
  root = connectJson(AuthService, sys.gatewayUrl, rootToken);
  // startTestSystem has given loopback fresh per-IP budgets (per-phone budgets use fresh
  // random phones).
});
test.after(async () => {
  await sys?.stop();
});

/** AuthService called straight by a mesh peer that reports the end client's IP. */
const fromClientIp = (clientIp: string) => peerClient(sys, AuthService, sys.cfg.urls.auth, { as: "gateway-peer", clientIp });
const newPhone = () => phoneUnder("+23491");
const randomIp = () => `10.${1 + Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
const otherCode = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, "0");

/** The code in the newest SMS to `phone` received at or after `after`. */
async function codeFor(phone: string, after: Date): Promise<string> {
  const msg = await waitForMessage(sys.devInbox!, { channel: "sms", to: phone }, { after });
  const m = /\b(\d{6})\b/.exec(msg.body);
  assert.ok(m, "the SMS carries a 6-digit code");
  return m![1]!;
}

async function customerCode(phone: string): Promise<string> {
  const t = new Date();
  await anon.customerRequestOtp({ phone });
  return await codeFor(phone, t);
}

async function newStaff(role = Role.BANK_ADMIN): Promise<string> {
  const phone = newPhone();
  const organizationId =
    role === Role.SYSTEM_ADMIN ? "" : role === Role.MERCHANT_ADMIN ? await createMerchant(sys.gatewayUrl, rootToken) : await createBank(sys.gatewayUrl, rootToken);
  await root.createUser({ phone, displayName: "Staff", role, organizationId }, idem());
  return phone;
}

test("staff login: a registered admin gets a code by SMS, once, and a working session", async () => {
  const phone = await newStaff(Role.SYSTEM_ADMIN);
  const t = new Date();
  const res = await anon.requestOtp({ phone });
  assert.is(res.expiresInSeconds, 300);
  assert.ok(res.resendAfterSeconds > 0);
  const code = await codeFor(phone, t);
  const { session } = await anon.verifyOtp({ phone, code });
  assert.is(session?.principal?.role, Role.SYSTEM_ADMIN);
  const me = await connectJson(AuthService, sys.gatewayUrl, session!.accessToken).getMe({});
  assert.is(me.principal?.subjectId, session?.principal?.subjectId);
  // Accepted once.
  await fails(anon.verifyOtp({ phone, code }), Code.Unauthenticated, "OTP_INVALID");
});

test("customer login: an unknown phone gets an onboarding token KycService can verify", async () => {
  const phone = newPhone();
  const code = await customerCode(phone);
  const res = await anon.customerVerifyOtp({ phone, code });
  assert.is(res.result.case, "onboardingToken");
  const token = res.result.value as string;
  const claims = await sys.services.auth!.deps.verifier.verify(token, ONBOARDING_TOKEN_TYP);
  assert.is(claims.phone, phone);
  const ttl = (claims.exp ?? 0) - (claims.iat ?? 0);
  assert.ok(ttl > 0 && ttl <= 15 * 60, `onboarding token lives ≤ 15 min (${ttl} s)`);
  // It is not an access token.
  await fails(connectJson(AuthService, sys.gatewayUrl, token).getMe({}), Code.Unauthenticated);
});

test("customer login: a registered driver gets a session; a staff phone is sent to VerifyOtp", async () => {
  const phone = newPhone();
  const tokens = new ServiceTokens(sys.cfg.meshSecret, "kyc");
  const kyc = createClient(AuthService, createGrpcTransport({
    baseUrl: sys.cfg.urls.auth,
    interceptors: [(next) => async (req) => (req.header.set(SERVICE_TOKEN_HEADER, await tokens.token()), await next(req))],
  }));
  const driverId = randomUUID();
  await kyc.createDriverUser({ phone, driverId, displayName: "Dayo" }, idem());
  const res = await anon.customerVerifyOtp({ phone, code: await customerCode(phone) });
  assert.is(res.result.case, "session");
  const session = res.result.case === "session" ? res.result.value : undefined;
  assert.is(session?.principal?.role, Role.DRIVER);
  assert.is(session?.principal?.driverId, driverId);

  const staff = await newStaff(Role.MERCHANT_ADMIN);
  const code = await customerCode(staff);
  await fails(anon.customerVerifyOtp({ phone: staff, code }), Code.PermissionDenied, "NOT_A_CUSTOMER");
  const staffSession = await anon.verifyOtp({ phone: staff, code });
  assert.is(staffSession.session?.principal?.role, Role.MERCHANT_ADMIN);
});

test("a code expires after five minutes (service clock)", async () => {
  const phone = newPhone();
  const code = await customerCode(phone);
  sys.clock.advance(5 * 60_000 + 1_000);
  await fails(anon.customerVerifyOtp({ phone, code }), Code.Unauthenticated, "OTP_INVALID");
});

test("five wrong tries kill the code; four do not", async () => {
  const phone = newPhone();
  const code = await customerCode(phone);
  for (let i = 0; i < OTP_MAX_TRIES; i++) {
    await fails(anon.customerVerifyOtp({ phone, code: otherCode(code) }), Code.Unauthenticated, "OTP_INVALID");
  }
  await fails(anon.customerVerifyOtp({ phone, code }), Code.Unauthenticated, "OTP_INVALID");

  const phone2 = newPhone();
  const code2 = await customerCode(phone2);
  for (let i = 0; i < OTP_MAX_TRIES - 1; i++) await fails(anon.customerVerifyOtp({ phone: phone2, code: otherCode(code2) }), Code.Unauthenticated);
  assert.is((await anon.customerVerifyOtp({ phone: phone2, code: code2 })).result.case, "onboardingToken");
});

test("of concurrent logins with one code exactly one succeeds", async () => {
  const phone = newPhone();
  const code = await customerCode(phone);
  const results = await Promise.allSettled(Array.from({ length: 5 }, () => anon.customerVerifyOtp({ phone, code })));
  assert.is(results.filter((r) => r.status === "fulfilled").length, 1);
});

test("a new request replaces the previous code", async () => {
  const phone = newPhone();
  const first = await customerCode(phone);
  sys.clock.advance(31_000); // past the resend cooldown
  let second = await customerCode(phone);
  if (second === first) {
    sys.clock.advance(31_000); // one in a million: draw again
    second = await customerCode(phone);
  }
  await fails(anon.customerVerifyOtp({ phone, code: first }), Code.Unauthenticated, "OTP_INVALID");
  assert.is((await anon.customerVerifyOtp({ phone, code: second })).result.case, "onboardingToken");
});

test("send quotas per phone: a resend cooldown, then 3 codes per 10 minutes, with RetryInfo", async () => {
  const phone = newPhone();
  await anon.customerRequestOtp({ phone });
  const tooSoon = await fails(anon.customerRequestOtp({ phone }), Code.ResourceExhausted, "OTP_RATE_LIMITED");
  assert.ok(tooSoon.retryInfo, "RetryInfo says when to come back");
  sys.clock.advance(31_000);
  await anon.customerRequestOtp({ phone });
  sys.clock.advance(31_000);
  await anon.requestOtp({ phone }); // the staff method shares the phone's budget
  sys.clock.advance(31_000);
  const quota = await fails(anon.customerRequestOtp({ phone }), Code.ResourceExhausted, "OTP_RATE_LIMITED");
  assert.ok(quota.retryInfo);
  // Another phone from the same client is unaffected.
  await anon.customerRequestOtp({ phone: newPhone() });
});

test("send quota per client IP", async () => {
  const ip = randomIp();
  const client = fromClientIp(ip);
  let sent = 0;
  for (;;) {
    try {
      await client.requestOtp({ phone: newPhone() });
      sent++;
      assert.ok(sent <= 200, "never limited");
    } catch (err) {
      const ce = ConnectError.from(err);
      assert.is(Code[ce.code], "ResourceExhausted", ce.message);
      assert.is(reasonOf(ce), "OTP_RATE_LIMITED");
      assert.ok(ce.findDetails(RetryInfoSchema)[0]?.retryDelay);
      break;
    }
  }
  assert.ok(sent >= 10, `limited after only ${sent} sends`);
  await fromClientIp(randomIp()).requestOtp({ phone: newPhone() });
});

test("unknown phones: identical answers, and no SMS", async () => {
  const known = await newStaff();
  const unknown = newPhone();
  const t = new Date();
  const a = await postJson(sys.gatewayUrl, "fuel.auth.v1.AuthService/RequestOtp", { phone: known });
  const b = await postJson(sys.gatewayUrl, "fuel.auth.v1.AuthService/RequestOtp", { phone: unknown });
  assert.is(a.status, 200);
  assert.is(b.status, a.status);
  assert.equal(b.json, a.json);
  const headerNames = (h: Headers) => [...h.keys()].filter((k) => !["date", "x-trace-id", "traceparent"].includes(k)).sort();
  assert.equal(headerNames(b.headers), headerNames(a.headers));
  const code = await codeFor(known, t); // the registered phone got its SMS...
  await new Promise((r) => setTimeout(r, 300));
  assert.is(sys.devInbox!.messages({ channel: "sms", to: unknown }).length, 0, "...the unknown one nothing");

  // Verifying: an unknown phone fails exactly like a wrong code.
  const wrong = await postJson(sys.gatewayUrl, "fuel.auth.v1.AuthService/VerifyOtp", { phone: known, code: otherCode(code) });
  const nobody = await postJson(sys.gatewayUrl, "fuel.auth.v1.AuthService/VerifyOtp", { phone: unknown, code });
  assert.is(nobody.status, wrong.status);
  assert.is(nobody.json.code, wrong.json.code);
  assert.is(nobody.json.message, wrong.json.message);
  assert.is(nobody.json.details[0].debug.reason, "OTP_INVALID");
  assert.is(wrong.json.details[0].debug.reason, "OTP_INVALID");
});

test("Redis never holds a code or a phone in the clear", async () => {
  const phone = newPhone();
  const code = await customerCode(phone);
  await fails(anon.customerVerifyOtp({ phone, code: otherCode(code) }), Code.Unauthenticated);
  const record = await sys.infra.kv.get(otpKeys(phoneKey((sys.services.auth!.deps as AuthContext).settings.otpHmacKey, phone)).record);
  assert.ok(record, "the code's record is where AuthService keeps it");
  assert.not.ok(record!.includes(code));
  const redis = sys.infra.kv.redis;
  if (redis) {
    const codeRe = new RegExp(`(^|\\D)${code}(\\D|$)`);
    const digits = phone.slice(1);
    let scanned = 0;
    for (const key of await keysEverywhere(redis, "*")) {
      assert.not.ok(key.includes(digits), `a key names the phone: ${key}`);
      assert.not.ok(codeRe.test(key), `a key holds the code: ${key}`);
      const value = (await redis.type(key)) === "string" ? ((await redis.get(key)) ?? "") : "";
      assert.not.ok(value.includes(digits), `${key} holds the phone`);
      assert.not.ok(codeRe.test(value), `${key} holds the code`);
      scanned++;
    }
    assert.ok(scanned > 0);
  }
});

test.run();
