// NotificationService's pure rules: the retry schedule, the classification of provider
// failures, the notification-specific input rules and the dev inbox's MIME reader.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { DEFAULT_RETRY_POLICY, nextRetryDelayMs, validateRetryPolicy, type RetryPolicy } from "../services/notification/backoff.js";
import { classify, ProviderError } from "../services/notification/classify.js";
import { deviceToken, kind, messageText, pushData } from "../services/notification/rules.js";
import { parseMail } from "../dev/inbox.js";

const test = suite("notification-rules");

const fieldOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    const ce = ConnectError.from(err);
    assert.is(ce.code, Code.InvalidArgument);
    return ce.findDetails(ErrorInfoSchema)[0]?.metadata.field ?? "";
  }
  throw new Error("expected INVALID_ARGUMENT");
};

test("backoff: exponential from ~1 s, no jitter at random=0, capped, 8 attempts then none", () => {
  const p: RetryPolicy = { ...DEFAULT_RETRY_POLICY };
  const zero = () => 0;
  assert.is(nextRetryDelayMs(1, p, zero), 1_000);
  assert.is(nextRetryDelayMs(2, p, zero), 3_000);
  assert.is(nextRetryDelayMs(3, p, zero), 9_000);
  assert.is(nextRetryDelayMs(7, p, zero), Math.min(729_000, p.maxDelayMs));
  assert.is(nextRetryDelayMs(8, p, zero), null, "the 8th failed attempt is the last");
  assert.is(nextRetryDelayMs(20, p, zero), null);
  const capped = { ...p, maxAttempts: 50 };
  assert.is(nextRetryDelayMs(30, capped, zero), capped.maxDelayMs);
});

test("backoff: jitter only ever shortens the delay, within the configured fraction", () => {
  const p = { ...DEFAULT_RETRY_POLICY, jitter: 0.25 };
  for (let attempt = 1; attempt < p.maxAttempts; attempt++) {
    const full = nextRetryDelayMs(attempt, p, () => 0)!;
    for (const r of [0.01, 0.5, 0.999]) {
      const d = nextRetryDelayMs(attempt, p, () => r)!;
      assert.ok(d <= full && d >= full * 0.75, `attempt ${attempt} r=${r}: ${d} not in [${full * 0.75}, ${full}]`);
    }
  }
  const noJitter = { ...p, jitter: 0 };
  assert.is(nextRetryDelayMs(2, noJitter, () => 0.9), 3_000);
});

test("backoff: the sum of all waits of the default policy is bounded (minutes, not hours)", () => {
  let total = 0;
  for (let a = 1; a < DEFAULT_RETRY_POLICY.maxAttempts; a++) total += nextRetryDelayMs(a, DEFAULT_RETRY_POLICY, () => 0)!;
  assert.ok(total > 60_000 && total < 3600_000, `total ${total} ms`);
});

test("backoff: bad input and bad policies are refused", () => {
  assert.throws(() => nextRetryDelayMs(0), /positive integer/);
  assert.throws(() => validateRetryPolicy({ ...DEFAULT_RETRY_POLICY, maxAttempts: 0 }), /maxAttempts/);
  assert.throws(() => validateRetryPolicy({ ...DEFAULT_RETRY_POLICY, factor: 0.5 }), /factor/);
  assert.throws(() => validateRetryPolicy({ ...DEFAULT_RETRY_POLICY, jitter: 2 }), /jitter/);
  assert.is(validateRetryPolicy(DEFAULT_RETRY_POLICY), DEFAULT_RETRY_POLICY);
});

test("classify: transport trouble and server errors are retryable", () => {
  assert.equal(classify({ kind: "network" }), { retryable: true, code: "PROVIDER_UNAVAILABLE" });
  assert.equal(classify({ kind: "timeout" }), { retryable: true, code: "PROVIDER_TIMEOUT" });
  assert.equal(classify({ kind: "not_configured" }), { retryable: true, code: "PROVIDER_NOT_CONFIGURED" });
  assert.equal(classify({ kind: "bad_response" }), { retryable: true, code: "PROVIDER_BAD_RESPONSE" });
  for (const status of [500, 502, 503, 504]) assert.equal(classify({ kind: "http", status }), { retryable: true, code: "PROVIDER_UNAVAILABLE" });
  assert.equal(classify({ kind: "http", status: 429 }), { retryable: true, code: "PROVIDER_RATE_LIMITED" });
  assert.equal(classify({ kind: "http", status: 408 }), { retryable: true, code: "PROVIDER_TIMEOUT" });
  assert.equal(classify({ kind: "http", status: 401, code: 20003 }), { retryable: true, code: "PROVIDER_AUTH_FAILED" });
});

test("classify: Twilio recipient errors and other 4xx are permanent", () => {
  assert.equal(classify({ kind: "http", status: 400, code: 21211 }), { retryable: false, code: "INVALID_RECIPIENT" });
  assert.equal(classify({ kind: "http", status: 400, code: 21610 }), { retryable: false, code: "INVALID_RECIPIENT" });
  assert.equal(classify({ kind: "http", status: 400, code: 21602 }), { retryable: false, code: "PROVIDER_REJECTED" });
  assert.equal(classify({ kind: "http", status: 422 }), { retryable: false, code: "PROVIDER_REJECTED" });
});

test("classify: FCM statuses", () => {
  assert.equal(classify({ kind: "http", status: 404, code: "UNREGISTERED" }), { retryable: false, code: "DEVICE_UNREGISTERED" });
  assert.equal(classify({ kind: "http", status: 400, code: "INVALID_ARGUMENT" }), { retryable: false, code: "PROVIDER_REJECTED" });
  assert.equal(classify({ kind: "http", status: 403, code: "SENDER_ID_MISMATCH" }), { retryable: false, code: "PROVIDER_REJECTED" });
  assert.equal(classify({ kind: "http", status: 429, code: "QUOTA_EXCEEDED" }), { retryable: true, code: "PROVIDER_RATE_LIMITED" });
  assert.equal(classify({ kind: "http", status: 503, code: "UNAVAILABLE" }), { retryable: true, code: "PROVIDER_UNAVAILABLE" });
  assert.equal(classify({ kind: "http", status: 500, code: "INTERNAL" }), { retryable: true, code: "PROVIDER_UNAVAILABLE" });
});

test("classify: SMTP 4xx transient, 5xx permanent, socket errors retryable", () => {
  assert.equal(classify({ kind: "smtp", responseCode: 421 }), { retryable: true, code: "PROVIDER_UNAVAILABLE" });
  assert.equal(classify({ kind: "smtp", responseCode: 451, code: "EMESSAGE" }), { retryable: true, code: "PROVIDER_UNAVAILABLE" });
  assert.equal(classify({ kind: "smtp", responseCode: 550, code: "EENVELOPE" }), { retryable: false, code: "INVALID_RECIPIENT" });
  assert.equal(classify({ kind: "smtp", responseCode: 554 }), { retryable: false, code: "PROVIDER_REJECTED" });
  assert.equal(classify({ kind: "smtp", responseCode: 535, code: "EAUTH" }), { retryable: true, code: "PROVIDER_AUTH_FAILED" });
  assert.equal(classify({ kind: "smtp", code: "ECONNECTION" }), { retryable: true, code: "PROVIDER_UNAVAILABLE" });
  assert.equal(classify({ kind: "smtp", code: "ETIMEDOUT" }), { retryable: true, code: "PROVIDER_TIMEOUT" });
  assert.equal(classify({ kind: "smtp", code: "EENVELOPE" }), { retryable: false, code: "PROVIDER_REJECTED" });
});

test("ProviderError carries the classification and no detail beyond the code", () => {
  const e = new ProviderError({ kind: "http", status: 503 });
  assert.is(e.retryable, true);
  assert.is(e.code, "PROVIDER_UNAVAILABLE");
  assert.is(e.message, "PROVIDER_UNAVAILABLE");
});

test("rules: message text keeps newlines, trims, bounds length, refuses control characters", () => {
  assert.is(messageText("body", "  line 1\r\nline 2  ", 1, 100), "line 1\nline 2");
  assert.is(fieldOf(() => messageText("body", "   ", 1, 100)), "body");
  assert.is(fieldOf(() => messageText("text_body", "x".repeat(101), 1, 100)), "text_body");
  assert.is(fieldOf(() => messageText("body", "bell\u0007", 1, 100)), "body");
});

test("rules: kind, device token and push data", () => {
  assert.is(kind("kind", ""), "");
  assert.is(kind("kind", "KYC_DOCUMENT_APPROVED"), "KYC_DOCUMENT_APPROVED");
  for (const bad of ["kyc_approved", "A__B", "_A", "A-B", "A".repeat(65)]) assert.is(fieldOf(() => kind("kind", bad)), "kind", bad);
  assert.is(deviceToken("device_token", "fcm:token-123_ABC"), "fcm:token-123_ABC");
  for (const bad of ["short", "has space in it", "x".repeat(4097)]) assert.is(fieldOf(() => deviceToken("device_token", bad)), "device_token");
  assert.equal(pushData("data", { a: "1" }), { a: "1" });
  const many = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, "v"]));
  assert.is(fieldOf(() => pushData("data", many)), "data");
  assert.is(fieldOf(() => pushData("data", { from: "x" })), "data");
  assert.is(fieldOf(() => pushData("data", { google_x: "x" })), "data");
  assert.is(fieldOf(() => pushData("data", { "bad key": "x" })), "data");
  assert.is(fieldOf(() => pushData("data", { a: "x".repeat(1025) })), "data");
});

test("dev inbox MIME reader: multipart, quoted-printable, base64 and encoded subjects", () => {
  const raw = [
    "From: a@b.co",
    "To: x@y.co",
    "Subject: =?UTF-8?Q?H=C3=A9llo?=",
    " =?UTF-8?B?IHfDtnJsZA==?=",
    'Content-Type: multipart/alternative; boundary="BND"',
    "",
    "--BND",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: quoted-printable",
    "",
    "Caf=C3=A9 line that is so=",
    "ft-wrapped",
    "--BND",
    "Content-Type: text/html; charset=utf-8",
    "Content-Transfer-Encoding: base64",
    "",
    Buffer.from("<p>ignored</p>").toString("base64"),
    "--BND--",
    "",
  ].join("\r\n");
  assert.equal(parseMail(raw), { subject: "Héllo wörld", text: "Café line that is soft-wrapped" });
  const htmlOnly = "Subject: Hi\r\nContent-Type: text/html\r\n\r\n<p>Hello <b>there</b></p>\r\n";
  assert.equal(parseMail(htmlOnly), { subject: "Hi", text: "Hello there" });
});

test.run();
