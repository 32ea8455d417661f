// Every public method, called through the gateway with generated input by a caller whose
// role it admits: whatever arrives — empty, huge, negative, unknown enums, malformed ids,
// broken JSON — the answer is a success or a deliberate error, never INTERNAL or UNKNOWN;
// afterwards every service still answers and the ledger is whole. The inputs are typed
// messages built from each method's descriptor (random values per field kind), plus raw
// bodies a typed client cannot send.
import { randomUUID } from "node:crypto";
import { create, ScalarType, toJson, type DescField, type DescMessage, type DescMethod, type JsonValue } from "@bufbuild/protobuf";
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Role } from "../gen/fuel/common/v1/common_pb.js";
import { policyOf, publicMethods } from "../platform/policy.js";
import { ALL_SERVICES } from "../services/registry.js";
import { postJson } from "./helpers/clients.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";

const test = suite("hostile input");
let sys: TestSystem;
/** Several callers per role: each caller has its own rate-limit budget (600 a minute). */
const CALLERS_PER_ROLE = 6;
const tokens = new Map<Role, string[]>();
/** The organisation ids every test caller is bound to, so some inputs pass the access checks. */
const bound = { agencyId: randomUUID(), bankId: randomUUID(), merchantId: randomUUID(), stationId: randomUUID(), driverId: randomUUID() };

/** Inputs per method (HOSTILE_SAMPLES for a longer hunt); ~86 methods → ~1,000 calls. */
const SAMPLES_PER_METHOD = Number(process.env.HOSTILE_SAMPLES ?? 12);
const MAX_DEPTH = 3;
const FORBIDDEN = new Set(["internal", "unknown", "data_loss"]);

test.before(async () => {
  sys = await startTestSystem();
  for (const role of [Role.SYSTEM_ADMIN, Role.BANK_ADMIN, Role.AGENCY_ADMIN, Role.MERCHANT_ADMIN, Role.DRIVER, Role.POS_TERMINAL, Role.BANK_SYSTEM]) {
    tokens.set(role, await Promise.all(Array.from({ length: CALLERS_PER_ROLE }, () => mintAccessToken(sys, principal(role, bound)))));
  }
});
test.after(async () => {
  await sys?.stop();
});

// Values that have broken parsers before: empty, whitespace, lookalikes of valid input,
// control characters, very long text, numbers as text.
const nastyString = fc.oneof(
  fc.constantFrom("", " ", "0", "-1", "NaN", "Infinity", "1e309", "null", "00000000-0000-0000-0000-000000000000", "not-a-uuid",
    "'; DROP TABLE x; --", "\u0000", "\ud800", "+2348012345678", "2026-02-30T25:61:00Z", "a".repeat(5000), "%s%n", "../../etc/passwd"),
  fc.uuid(),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
);
const int32 = fc.oneof(fc.constantFrom(0, -1, 1, 2 ** 31 - 1, -(2 ** 31)), fc.integer());
const uint32 = fc.oneof(fc.constantFrom(0, 1, 2 ** 32 - 1), fc.nat());
const int64 = fc.oneof(fc.constantFrom(0n, -1n, 1n, 2n ** 63n - 1n, -(2n ** 63n)), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }));
const uint64 = fc.oneof(fc.constantFrom(0n, 1n, 2n ** 64n - 1n), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }));
const double = fc.oneof(fc.constantFrom(0, -0, 91, -181, 1e308, -1e308, Number.NaN, Number.POSITIVE_INFINITY), fc.double());

// Half the time a field gets a value of the shape its name asks for, so that inputs get
// past the first validator into look-ups, rules and SQL.
function plausible(f: DescField): fc.Arbitrary<unknown> | null {
  const name = f.localName;
  if (f.fieldKind === "scalar" && f.scalar === ScalarType.STRING) {
    if (name in bound) return fc.constantFrom(bound[name as keyof typeof bound], randomUUID());
    if (/Id$/.test(name)) return fc.uuid();
    if (name === "currency") return fc.constantFrom("NGN", "USD", "ngn", "XXX");
    if (/phone/i.test(name)) return fc.constantFrom("+2348012345678", "+2348099999999", "08012345678");
    if (name === "pageToken") return fc.constantFrom("", "eyJ4IjoxfQ", "!!!");
  }
  if (f.fieldKind === "scalar" && f.scalar === ScalarType.INT64 && /Minor|amount/i.test(name)) return fc.oneof(fc.bigInt({ min: 1n, max: 10n ** 9n }), fc.constantFrom(0n, -1n));
  if (f.fieldKind === "scalar" && f.scalar === ScalarType.INT32 && /pageSize|limit/i.test(name)) return fc.integer({ min: -1, max: 2000 });
  return null;
}

function scalar(t: ScalarType): fc.Arbitrary<unknown> {
  switch (t) {
    case ScalarType.STRING:
      return nastyString;
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: 64 });
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return double;
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return int32;
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return uint32;
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return uint64;
    default:
      return int64;
  }
}

function enumValue(f: DescField & { enum: NonNullable<DescField["enum"]> }): fc.Arbitrary<number> {
  return fc.oneof(fc.constantFrom(...f.enum.values.map((v) => v.number)), fc.integer({ min: -5, max: 1000 }));
}

/** A generated init object for `desc`: each field present or not, values of its kind. */
function message(desc: DescMessage, depth = 0): fc.Arbitrary<Record<string, unknown>> {
  if (desc.typeName === "google.protobuf.Timestamp") {
    return fc.record({ seconds: fc.oneof(fc.bigInt({ min: -62135596800n, max: 253402300799n }), fc.constantFrom(0n, -1n)), nanos: fc.integer({ min: 0, max: 999_999_999 }) });
  }
  if (desc.typeName === "google.protobuf.FieldMask") {
    return fc.record({ paths: fc.array(fc.constantFrom("name", "address", "not_a_field", "", "a.b"), { maxLength: 3 }) });
  }
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of desc.fields) {
    if (f.oneof) continue;
    const arb = fieldValue(f, depth);
    if (arb) parts[f.localName] = arb;
  }
  const oneofs = desc.oneofs.map((o) =>
    fc.oneof(
      fc.constant(undefined),
      ...o.fields.map((f) => (fieldValue(f, depth) ?? fc.constant(undefined)).map((value) => ({ [o.localName]: value === undefined ? undefined : { case: f.localName, value } }))),
    ),
  );
  return fc.tuple(fc.record(parts, { requiredKeys: [] }), ...oneofs).map(([base, ...chosen]) => Object.assign({}, base, ...chosen.filter(Boolean)));
}

function fieldValue(f: DescField, depth: number): fc.Arbitrary<unknown> | null {
  const hint = plausible(f);
  const any = anyValue(f, depth);
  return hint && any ? fc.oneof(hint, any) : any;
}

function anyValue(f: DescField, depth: number): fc.Arbitrary<unknown> | null {
  switch (f.fieldKind) {
    case "scalar":
      return scalar(f.scalar);
    case "enum":
      return enumValue(f);
    case "message":
      return depth >= MAX_DEPTH ? null : message(f.message, depth + 1);
    case "list": {
      const item = f.listKind === "scalar" ? scalar(f.scalar) : f.listKind === "enum" ? enumValue(f as never) : depth >= MAX_DEPTH ? null : message(f.message, depth + 1);
      return item ? fc.array(item, { maxLength: 4 }) : null;
    }
    case "map":
      return fc.constant({});
  }
}

/** A caller the method admits (its first listed role), or none for anonymous methods. */
let turn = 0;
function tokenFor(m: DescMethod): string | undefined {
  const p = policyOf(m);
  if (p.anonymous) return undefined;
  const role = p.roles.find((r) => tokens.has(r));
  const callers = role === undefined ? undefined : tokens.get(role);
  return callers?.[turn++ % callers.length];
}

async function call(m: DescMethod, body: unknown, token: string | undefined): Promise<{ status: number; code: string; message: string }> {
  const headers: Record<string, string> = { "idempotency-key": randomUUID() };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await postJson(sys.gatewayUrl, `${m.parent.typeName}/${m.name}`, body, headers);
  return { status: res.status, code: res.status === 200 ? "ok" : String(res.json.code ?? `http ${res.status}`), message: String(res.json.message ?? "") };
}

test("generated input to every public unary method: a success or a deliberate error, never INTERNAL", async () => {
  const methods = ALL_SERVICES.flatMap(publicMethods).filter((m) => m.methodKind === "unary");
  assert.ok(methods.length > 50, `${methods.length} methods`);
  const failures: string[] = [];
  const hist = new Map<string, number>();
  let calls = 0;
  for (const m of methods) {
    const samples = fc.sample(message(m.input), { numRuns: SAMPLES_PER_METHOD });
    for (const init of samples) {
      let json: JsonValue;
      try {
        json = toJson(m.input, create(m.input, init as never));
      } catch {
        continue; // not representable in JSON (NaN in a non-double, say): a typed client could not send it either
      }
      const r = await call(m, json, tokenFor(m));
      calls++;
      hist.set(r.code, (hist.get(r.code) ?? 0) + 1);
      if (FORBIDDEN.has(r.code)) failures.push(`${m.parent.name}/${m.name} → ${r.code}: ${r.message}\n    ${JSON.stringify(json).slice(0, 400)}`);
    }
  }
  const seen = JSON.stringify(Object.fromEntries(hist));
  assert.ok(calls > methods.length * 5, `${calls} calls`);
  // The generator must reach past the validators too (look-ups, rules, SQL), not only
  // provoke INVALID_ARGUMENT: answers other than that, as a share of all.
  const deeper = calls - (hist.get("invalid_argument") ?? 0);
  assert.ok(deeper >= calls / 10, `only ${deeper} of ${calls} calls got past validation: ${seen}`);
  assert.is(failures.length, 0, `${failures.length} of ${calls} calls failed (${seen}):\n${failures.slice(0, 15).join("\n")}`);
});

test("bodies a typed client cannot send: wrong types, unknown fields, broken JSON", async () => {
  const methods = ALL_SERVICES.flatMap(publicMethods).filter((m) => m.methodKind === "unary");
  const bodies: unknown[] = [null, [], "text", 42, { unknownField: 1 }, { page_size: "many" }, { pageSize: -1 }, { amount: { amountMinor: "1.5" } }];
  const failures: string[] = [];
  for (const m of methods) {
    for (const body of bodies) {
      const r = await call(m, body, tokenFor(m));
      if (FORBIDDEN.has(r.code) || r.status >= 500) failures.push(`${m.parent.name}/${m.name} ${JSON.stringify(body)} → ${r.status} ${r.code}: ${r.message}`);
    }
    const raw = await fetch(`${sys.gatewayUrl}/${m.parent.typeName}/${m.name}`, { method: "POST", headers: { "content-type": "application/json" }, body: "{\"a\": " });
    if (raw.status >= 500) failures.push(`${m.parent.name}/${m.name} broken JSON → ${raw.status}`);
  }
  assert.is(failures.length, 0, failures.slice(0, 15).join("\n"));
});

test("afterwards every service still answers, and the ledger is whole", async () => {
  // Whatever the generated calls wrote (lines, holds, captures that passed the checks)
  // left no half-written money behind.
  const [admin] = tokens.get(Role.SYSTEM_ADMIN)!;
  const ledger = await postJson(sys.gatewayUrl, "fuel.credit.v1.CreditService/VerifyLedger", {}, { authorization: `Bearer ${admin}` });
  assert.is(ledger.status, 200, JSON.stringify(ledger.json));
  assert.is(ledger.json.consistent, true, JSON.stringify(ledger.json));
  for (const name of ["auth", "kyc", "credit", "transaction", "loan", "payment", "station", "notification"]) {
    const res = await postJson(sys.gatewayUrl, "grpc.health.v1.Health/Check", { service: `fuel.${name}.v1.${name[0]!.toUpperCase()}${name.slice(1)}Service` });
    assert.is(res.status, 200, `${name}: ${JSON.stringify(res.json)}`);
    assert.is(res.json.status, "SERVING", name);
  }
});

test.run();
