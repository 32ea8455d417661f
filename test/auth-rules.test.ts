// AuthService's pure rules (OTP codes and attempts, refresh rotation, role grants) and
// the OTP store against the real key-value store (Redis when REDIS_URL is set).
import { randomBytes, randomUUID } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Code, ConnectError } from "@connectrpc/connect";
import { Role } from "../gen/fuel/common/v1/common_pb.js";
import { createMemoryKv, createRedisKv, type Kv } from "../platform/kv.js";
import { canGrant, canManageMachine, canSeeUser, userScope } from "../services/auth/grant-rules.js";
import { decodeMachineCursor, encodeMachineCursor, machineListFilter, timestampTextOfMicros } from "../services/auth/machine-list-rule.js";
import { hashSecret, newClientSecret, secretMatches } from "../services/auth/machines.js";
import { codeMac, generateCode, judgeAttempt, OTP_MAX_TRIES, OTP_TTL_MS, phoneKey, smsBody } from "../services/auth/otp-code.js";
import { otpKeys, OtpStore } from "../services/auth/otp-store.js";
import { hashRefreshToken, newRefreshToken, refreshDecision } from "../services/auth/refresh-rule.js";
import { keysEverywhere } from "./helpers/redis-keys.js";
import { principal } from "./helpers/tokens.js";

const test = suite("auth-rules");
let kv: Kv;
let offsetMs = 0;
const now = () => new Date(Date.now() + offsetMs);
const hmacKey = randomBytes(32);
let store: OtpStore;
const newPhone = () => `+23480${String(Math.floor(Math.random() * 1e8)).padStart(8, "0")}`;

test.before(() => {
  kv = process.env.REDIS_URL ? createRedisKv(process.env.REDIS_URL) : createMemoryKv(() => now().getTime());
  store = new OtpStore(kv, hmacKey, now);
});
test.after(async () => {
  await kv.close();
});

test("codes are six digits, spread over the whole range", () => {
  const seen = new Set<string>();
  let lowLeading = 0;
  for (let i = 0; i < 2000; i++) {
    const c = generateCode();
    assert.match(c, /^\d{6}$/);
    seen.add(c);
    if (c.startsWith("0")) lowLeading++;
  }
  assert.ok(seen.size > 1990, "codes repeat far too often");
  assert.ok(lowLeading > 100, "codes with a leading zero must occur (about 10%)");
});

test("the phone key and code MAC are keyed HMACs: no phone or code in them", () => {
  const phone = "+2348012345678";
  const pk = phoneKey(hmacKey, phone);
  assert.not.ok(pk.includes("8012345678"));
  assert.is.not(pk, phoneKey(randomBytes(32), phone), "another key must give another phone key");
  const mac = codeMac(hmacKey, pk, "id1", "123456");
  assert.not.ok(mac.includes("123456"));
  assert.is.not(mac, codeMac(hmacKey, pk, "id2", "123456"), "the MAC is bound to the code id");
  assert.ok(smsBody("042517").includes("042517"));
});

test("judgeAttempt: expiry, try budget, match", () => {
  const t0 = 1_000_000;
  const rec = { id: "x", mac: codeMac(hmacKey, "pk", "x", "111111"), exp: t0 + OTP_TTL_MS };
  const right = codeMac(hmacKey, "pk", "x", "111111");
  const wrong = codeMac(hmacKey, "pk", "x", "222222");
  assert.is(judgeAttempt(rec, t0, 1, right), "match");
  assert.is(judgeAttempt(rec, t0, 1, wrong), "mismatch");
  assert.is(judgeAttempt(rec, t0, OTP_MAX_TRIES, right), "match");
  assert.is(judgeAttempt(rec, t0, OTP_MAX_TRIES + 1, right), "exhausted");
  assert.is(judgeAttempt(rec, t0 + OTP_TTL_MS, 1, right), "expired");
});

test("OtpStore: a code is accepted once", async () => {
  const pk = store.phoneKey(newPhone());
  const code = await store.issue(pk);
  const first = await store.check(pk, code);
  assert.ok(first.ok);
  if (!first.ok) return;
  assert.ok(await store.consume(pk, first.id));
  assert.not.ok(await store.consume(pk, first.id), "a second consume must lose");
  assert.not.ok((await store.check(pk, code)).ok, "a used code must not verify again");
});

test("OtpStore: of concurrent verifiers exactly one wins", async () => {
  const pk = store.phoneKey(newPhone());
  const code = await store.issue(pk);
  const results = await Promise.all(
    Array.from({ length: 8 }, async () => {
      const r = await store.check(pk, code);
      return r.ok ? await store.consume(pk, r.id) : false;
    }),
  );
  assert.is(results.filter(Boolean).length, 1);
});

test("OtpStore: five wrong tries kill the code; four do not", async () => {
  const pk = store.phoneKey(newPhone());
  const code = await store.issue(pk);
  const wrong = code === "000000" ? "000001" : "000000";
  for (let i = 0; i < OTP_MAX_TRIES - 1; i++) assert.not.ok((await store.check(pk, wrong)).ok);
  assert.ok((await store.check(pk, code)).ok, "after four wrong tries the right code still works");

  const pk2 = store.phoneKey(newPhone());
  const code2 = await store.issue(pk2);
  const wrong2 = code2 === "000000" ? "000001" : "000000";
  for (let i = 0; i < OTP_MAX_TRIES; i++) assert.not.ok((await store.check(pk2, wrong2)).ok);
  const after = await store.check(pk2, code2);
  assert.not.ok(after.ok, "after five wrong tries the right code must fail");
});

test("OtpStore: racing guessers get at most five comparisons in total", async () => {
  const pk = store.phoneKey(newPhone());
  const code = await store.issue(pk);
  const wrong = code === "000000" ? "000001" : "000000";
  await Promise.all(Array.from({ length: 12 }, () => store.check(pk, wrong)));
  assert.not.ok((await store.check(pk, code)).ok);
});

test("OtpStore: a code expires after five minutes on the service clock", async () => {
  const pk = store.phoneKey(newPhone());
  const code = await store.issue(pk);
  offsetMs += OTP_TTL_MS + 1_000;
  try {
    const r = await store.check(pk, code);
    assert.not.ok(r.ok);
    assert.equal(r.ok ? "" : r.outcome, "expired");
  } finally {
    offsetMs = 0;
  }
});

test("OtpStore: a new request replaces the previous code; cooldown follows the clock", async () => {
  const pk = store.phoneKey(newPhone());
  const first = await store.issue(pk);
  assert.ok((await store.cooldownRemainingMs(pk)) > 25_000);
  offsetMs += 31_000;
  try {
    assert.is(await store.cooldownRemainingMs(pk), 0);
    let second = await store.issue(pk);
    while (second === first) second = await store.issue(pk); // one in a million
    assert.not.ok((await store.check(pk, first)).ok, "the replaced code must be dead");
    assert.ok((await store.check(pk, second)).ok);
  } finally {
    offsetMs = 0;
  }
});

test("OtpStore: Redis never holds the phone or the code in the clear", async () => {
  const phone = newPhone();
  const pk = store.phoneKey(phone);
  const code = await store.issue(pk);
  const wrong = code === "000000" ? "000001" : "000000";
  await store.check(pk, wrong);
  const record = await kv.get(otpKeys(pk).record);
  assert.ok(record, "the record exists");
  assert.not.ok(record!.includes(code));
  if (kv.redis) {
    const keys = await keysEverywhere(kv.redis, `otp:*`);
    const digits = phone.slice(1);
    const codeRe = new RegExp(`(^|\\D)${code}(\\D|$)`);
    for (const k of keys) {
      assert.not.ok(k.includes(digits), `key ${k} holds the phone`);
      const value = await kv.redis.get(k).catch(() => "");
      assert.not.ok(codeRe.test(k) || codeRe.test(value ?? ""), `key ${k} holds the code`);
      assert.not.ok((value ?? "").includes(digits), `key ${k} holds the phone`);
    }
  }
});

test("refreshDecision: unknown, revoked, spent, expired, disabled, fresh", () => {
  const t = new Date("2030-01-01T00:00:00Z");
  const later = new Date(t.getTime() + 1000);
  const row = { spent: false, revoked: false, expireTime: later, spentTime: null };
  assert.is(refreshDecision(undefined, true, t), "invalid");
  assert.is(refreshDecision({ ...row, revoked: true }, true, t), "invalid");
  assert.is(refreshDecision({ ...row, spent: true }, true, t), "reused");
  assert.is(refreshDecision(row, true, later), "invalid");
  assert.is(refreshDecision(row, false, t), "disabled");
  assert.is(refreshDecision(row, true, t), "rotate");
  const tok = newRefreshToken();
  assert.is(Buffer.from(tok, "base64url").length, 32, "256 bits");
  assert.match(hashRefreshToken(tok), /^[0-9a-f]{64}$/);
  assert.is.not(hashRefreshToken(tok), tok);
});

test("refreshDecision: a spent token is a retry only promptly, with its successor unused", () => {
  const spentAt = new Date("2030-01-01T00:00:00Z");
  const at = (ms: number) => new Date(spentAt.getTime() + ms);
  const spent = { spent: true, revoked: false, expireTime: at(3_600_000), spentTime: spentAt };
  const unused = { spent: false, revoked: false };
  const graceMs = 30_000;
  assert.is(refreshDecision(spent, true, at(1_000), unused, graceMs), "retry");
  assert.is(refreshDecision(spent, true, at(29_999), unused, graceMs), "retry");
  assert.is(refreshDecision(spent, true, at(30_000), unused, graceMs), "reused", "the grace period has ended");
  assert.is(refreshDecision(spent, true, at(1_000), { spent: true, revoked: false }, graceMs), "reused", "the successor was used");
  assert.is(refreshDecision(spent, true, at(1_000), { spent: false, revoked: true }, graceMs), "reused", "the successor was revoked");
  assert.is(refreshDecision(spent, true, at(1_000), undefined, graceMs), "reused", "no successor");
  assert.is(refreshDecision(spent, true, at(1_000), unused, 0), "reused", "retries turned off");
  assert.is(refreshDecision({ ...spent, spentTime: null }, true, at(1_000), unused, graceMs), "reused", "spent before spend times were kept");
  assert.is(refreshDecision(spent, true, at(-1_000), unused, graceMs), "reused", "a clock that went back");
  assert.is(refreshDecision({ ...spent, expireTime: at(500) }, true, at(1_000), unused, graceMs), "reused", "the family has expired");
  assert.is(refreshDecision({ ...spent, revoked: true }, true, at(1_000), unused, graceMs), "invalid");
  assert.is(refreshDecision(spent, false, at(1_000), unused, graceMs), "disabled");
});

test("canGrant: SYSTEM_ADMIN any admin role; org admins their own role and org only", () => {
  const org = randomUUID();
  const other = randomUUID();
  const sys = principal(Role.SYSTEM_ADMIN);
  assert.ok(canGrant(sys, Role.SYSTEM_ADMIN, ""));
  assert.ok(canGrant(sys, Role.BANK_ADMIN, org));
  assert.not.ok(canGrant(sys, Role.DRIVER, org), "drivers come from onboarding");
  const bank = principal(Role.BANK_ADMIN, { bankId: org });
  assert.ok(canGrant(bank, Role.BANK_ADMIN, org));
  assert.not.ok(canGrant(bank, Role.BANK_ADMIN, other));
  assert.not.ok(canGrant(bank, Role.AGENCY_ADMIN, org));
  assert.not.ok(canGrant(bank, Role.SYSTEM_ADMIN, ""));
  assert.not.ok(canGrant(principal(Role.BANK_ADMIN), Role.BANK_ADMIN, ""), "an admin without an org grants nothing");
  const agency = principal(Role.AGENCY_ADMIN, { agencyId: org });
  assert.ok(canGrant(agency, Role.AGENCY_ADMIN, org));
  assert.not.ok(canGrant(agency, Role.MERCHANT_ADMIN, org));
  assert.not.ok(canGrant(principal(Role.DRIVER, { agencyId: org }), Role.AGENCY_ADMIN, org));
});

test("canSeeUser / userScope: admins see their organisation only", () => {
  const org = randomUUID();
  const u = { agencyId: null, bankId: org, merchantId: null };
  assert.ok(canSeeUser(principal(Role.SYSTEM_ADMIN), u));
  assert.ok(canSeeUser(principal(Role.BANK_ADMIN, { bankId: org }), u));
  assert.not.ok(canSeeUser(principal(Role.BANK_ADMIN, { bankId: randomUUID() }), u));
  assert.not.ok(canSeeUser(principal(Role.AGENCY_ADMIN, { agencyId: org }), u));
  assert.is(userScope(principal(Role.SYSTEM_ADMIN)), null);
  assert.equal(userScope(principal(Role.MERCHANT_ADMIN, { merchantId: org })), { column: "merchant_id", id: org });
  assert.is(userScope(principal(Role.MERCHANT_ADMIN)), "none");
});

test("canManageMachine: merchants their POS terminals, banks their systems", () => {
  const m = randomUUID();
  const b = randomUUID();
  const pos = { kind: "POS_TERMINAL" as const, merchantId: m, bankId: null };
  const bankSys = { kind: "BANK_SYSTEM" as const, merchantId: null, bankId: b };
  assert.ok(canManageMachine(principal(Role.SYSTEM_ADMIN), pos));
  assert.ok(canManageMachine(principal(Role.MERCHANT_ADMIN, { merchantId: m }), pos));
  assert.not.ok(canManageMachine(principal(Role.MERCHANT_ADMIN, { merchantId: randomUUID() }), pos));
  assert.not.ok(canManageMachine(principal(Role.MERCHANT_ADMIN, { merchantId: m }), bankSys));
  assert.ok(canManageMachine(principal(Role.BANK_ADMIN, { bankId: b }), bankSys));
  assert.not.ok(canManageMachine(principal(Role.BANK_ADMIN, { bankId: b }), pos));
});

test("machineListFilter: a list reaches the caller's organisation, and filters only narrow it", () => {
  const m = randomUUID();
  const b = randomUUID();
  const st = randomUUID();
  const ask = { kind: null, stationId: null, includeRevoked: false };
  assert.equal(machineListFilter(principal(Role.SYSTEM_ADMIN), { ...ask, stationId: st, includeRevoked: true }), {
    kind: null, merchantId: null, bankId: null, stationId: st, activeOnly: false,
  });
  const merchant = principal(Role.MERCHANT_ADMIN, { merchantId: m });
  assert.equal(machineListFilter(merchant, { ...ask, stationId: st }), { kind: "POS_TERMINAL", merchantId: m, bankId: null, stationId: st, activeOnly: true });
  assert.equal(machineListFilter(merchant, { ...ask, kind: "POS_TERMINAL" })?.merchantId, m);
  assert.is(machineListFilter(merchant, { ...ask, kind: "BANK_SYSTEM" }), null);
  const bank = principal(Role.BANK_ADMIN, { bankId: b });
  assert.equal(machineListFilter(bank, ask), { kind: "BANK_SYSTEM", merchantId: null, bankId: b, stationId: null, activeOnly: true });
  assert.is(machineListFilter(bank, { ...ask, stationId: st }), null);
  assert.is(machineListFilter(bank, { ...ask, kind: "POS_TERMINAL" }), null);
  // An admin bound to nothing, and every other role, reach nothing.
  assert.is(machineListFilter(principal(Role.MERCHANT_ADMIN), ask), null);
  assert.is(machineListFilter(principal(Role.BANK_ADMIN), ask), null);
  for (const role of [Role.DRIVER, Role.AGENCY_ADMIN, Role.POS_TERMINAL, Role.BANK_SYSTEM, Role.SERVICE]) {
    assert.is(machineListFilter(principal(role, { merchantId: m, bankId: b }), ask), null, Role[role]);
  }
});

test("machine page tokens: exact to the microsecond, and nothing else decodes", () => {
  const c = { createTimeUs: 1_796_460_450_862_371n, clientId: randomUUID() };
  assert.equal(decodeMachineCursor(encodeMachineCursor(c)), c);
  assert.is(decodeMachineCursor(""), null);
  assert.is(timestampTextOfMicros(c.createTimeUs), "2026-12-05T08:47:30.862371Z");
  assert.is(timestampTextOfMicros(0n), "1970-01-01T00:00:00.000000Z");
  assert.is(timestampTextOfMicros(253_402_300_799_999_999n), "9999-12-31T23:59:59.999999Z");
  const token = (k: unknown) => Buffer.from(JSON.stringify(k)).toString("base64url");
  for (const bad of [
    "garbage!",
    token({ t: "2026-12-05 08:47:30.862371+00", id: c.clientId }),
    token({ t: "-1", id: c.clientId }),
    token({ t: "253402300800000000", id: c.clientId }),
    token({ t: "1", id: "1 OR 1=1" }),
    token({ t: 1, id: c.clientId }),
    token({ id: c.clientId }),
  ]) {
    assert.throws(() => decodeMachineCursor(bad), (e: ConnectError) => e.code === Code.InvalidArgument && e.rawMessage.startsWith("page_token:"), bad);
  }
});

test("client secrets: 256-bit, stored as a hash, compared exactly", () => {
  const s = newClientSecret();
  assert.is(Buffer.from(s, "base64url").length, 32);
  const h = hashSecret(s);
  assert.not.ok(h.includes(s));
  assert.ok(secretMatches(s, h));
  assert.not.ok(secretMatches(s + "x", h));
  assert.not.ok(secretMatches(s, "abc"));
});

test.run();
