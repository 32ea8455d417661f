// Unit tests of the platform's pure rules: validation, page tokens, deadlines, log scrubbing.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema } from "../gen/google/rpc/error_details_pb.js";
import { reasonOf, withTraceId, invalidArgument } from "../platform/errors.js";
import { deadlineFromHeaders } from "../platform/interceptors/deadline.js";
import { LogThrottle } from "../platform/log-throttle.js";
import { scrub } from "../platform/logger.js";
import { decimalString, moneyText } from "../platform/money-text.js";
import * as v from "../platform/validate.js";

const test = suite("platform rules");

const fieldOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    const ce = ConnectError.from(err);
    assert.is(ce.code, Code.InvalidArgument);
    return ce.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.field;
  }
  throw new Error("expected INVALID_ARGUMENT");
};

test("money for people: exact, the currency's own decimals, grouped", () => {
  // Intl separates code and amount with a no-break space.
  const plain = (s: string) => s.replace(/\u00a0/g, " ");
  assert.is(plain(moneyText(1_800_000n, "NGN")), "NGN 18,000.00");
  assert.is(plain(moneyText(5n, "NGN")), "NGN 0.05");
  assert.is(plain(moneyText(0n, "NGN")), "NGN 0.00");
  assert.is(plain(moneyText(-250n, "USD")), "-USD 2.50");
  assert.is(plain(moneyText(1500n, "JPY")), "JPY 1,500");
  assert.is(plain(moneyText(1_234_567n, "KWD")), "KWD 1,234.567");
  // Past 2^53 every digit survives (a float would not).
  assert.is(plain(moneyText(123_456_789_012_345_678_9n, "NGN")), "NGN 12,345,678,901,234,567.89");
  assert.is(plain(moneyText(100n, "XYZ!")), "XYZ! 1.00", "a code Intl refuses is still shown");
  assert.is(moneyText(1_174_750n, "NGN", "symbol"), "₦11,747.50");
  assert.is(moneyText(63_500n, "NGN", "symbol"), "₦635.00");
  assert.is(decimalString(7n, 3), "0.007");
  assert.is(decimalString(-7n, 2), "-0.07");
  assert.is(decimalString(42n, 0), "42");
});

test("validators name the field", () => {
  assert.is(fieldOf(() => v.phone("phone", "0803")), "phone");
  assert.is(fieldOf(() => v.uuid("driver_id", "x")), "driver_id");
  assert.is(fieldOf(() => v.text("full_name", " ", 2, 100)), "full_name");
  assert.is(fieldOf(() => v.text("full_name", "ab\u0000c", 2, 100)), "full_name");
  assert.is(fieldOf(() => v.currency("currency", "usd")), "currency");
  assert.is(fieldOf(() => v.email("email", "not-an-email")), "email");
  assert.is(fieldOf(() => v.pageSize(-1)), "page_size");
  assert.is(fieldOf(() => v.decodePageToken("%%%", ["id"])), "page_token");
  assert.is(v.phone("phone", "+2348012345678"), "+2348012345678");
});

test("one page-size rule: 0 → 50, above 200 → 200, negative refused", () => {
  assert.is(v.pageSize(0), 50);
  assert.is(v.pageSize(7), 7);
  assert.is(v.pageSize(200), 200);
  assert.is(v.pageSize(5000), 200);
  assert.is(fieldOf(() => v.pageSize(-1)), "page_size");
});

test("page tokens round-trip and reject tampering", () => {
  const t = v.encodePageToken({ id: "a", at: "2026-01-01" });
  assert.equal(v.decodePageToken(t, ["id", "at"]), { id: "a", at: "2026-01-01" });
  assert.is(v.decodePageToken("", ["id"]), null);
  assert.is(fieldOf(() => v.decodePageToken(v.encodePageToken({ other: "x" }), ["id"])), "page_token");
});

test("masking keeps only the tail", () => {
  assert.is(v.maskPhone("+2348012345678"), "+234*******678");
  assert.is(v.maskTail("A12345678", 4), "*****5678");
  assert.is(v.maskEmail("ada@example.com"), "a***@example.com");
});

test("deadlines: client value honoured up to the cap, default otherwise", () => {
  assert.is(deadlineFromHeaders(new Headers({ "grpc-timeout": "2S" }), 15_000, 30_000), 2_000);
  assert.is(deadlineFromHeaders(new Headers({ "grpc-timeout": "10M" }), 15_000, 30_000), 30_000);
  assert.is(deadlineFromHeaders(new Headers({ "connect-timeout-ms": "750" }), 15_000, 30_000), 750);
  assert.is(deadlineFromHeaders(new Headers(), 15_000, 30_000), 15_000);
  assert.is(deadlineFromHeaders(new Headers({ "grpc-timeout": "junk" }), 15_000, 30_000), 15_000);
});

test("error mapping keeps details and adds the trace id", () => {
  const e = withTraceId(invalidArgument("phone", "bad"), "abc");
  assert.is(reasonOf(e), "INVALID_FIELD");
  assert.is(e.metadata.get("x-trace-id"), null); // header is set by the interceptor, not here
  assert.is(e.findDetails(BadRequestSchema).length, 1);
  const plain = withTraceId(new ConnectError("x", Code.NotFound), "t1");
  assert.is(reasonOf(plain), "NOT_FOUND");
});

test("log scrubbing removes phones, long digit runs and JWTs", () => {
  const out = scrub("call +2348012345678 with otp 493027 and eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.sig");
  assert.not.ok(out.includes("2348012345678"));
  assert.not.ok(out.includes("493027"));
  assert.not.ok(out.includes("eyJhbGciOiJFUzI1NiJ9"));
});

test("log throttle: one line per key per period, and the next one counts those held back", () => {
  let now = 0;
  const t = new LogThrottle(1_000, () => now);
  assert.equal(t.pass("db"), { suppressed: 0 });
  assert.is(t.pass("db"), null);
  assert.is(t.pass("db"), null);
  assert.equal(t.pass("redis"), { suppressed: 0 }, "keys are throttled apart");
  now = 999;
  assert.is(t.pass("db"), null);
  now = 1_000;
  assert.equal(t.pass("db"), { suppressed: 3 });
  assert.is(t.pass("db"), null);
});

test.run();
