// Idempotency keys on a real mutating method (KycService.CreateBank) through the gateway,
// as a bank's integration would retry: replay, mismatch, concurrency, scoping, Redis loss,
// and a long call keeping its key by renewing its lease.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import pg from "pg";
import { Role } from "../gen/fuel/common/v1/common_pb.js";
import { IDEMPOTENCY_LEASE_MS } from "../platform/interceptors/idempotency-lease.js";
import { postJson } from "./helpers/clients.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";

const test = suite("idempotency");
let sys: TestSystem;
let admin: string;
let db: pg.Client;

test.before(async () => {
  sys = await startTestSystem();
  admin = await mintAccessToken(sys, principal(Role.SYSTEM_ADMIN));
  db = new pg.Client({ connectionString: sys.databaseUrl });
  await db.connect();
});
test.after(async () => {
  await db?.end();
  await sys?.stop();
});

const createBank = (key: string | null, code: string, token = admin) =>
  postJson(sys.gatewayUrl, "fuel.kyc.v1.KycService/CreateBank", { name: `Bank ${code}`, code, currency: "NGN" }, {
    authorization: `Bearer ${token}`,
    ...(key ? { "idempotency-key": key } : {}),
  });

const banksWithCode = async (code: string) => (await db.query(`SELECT count(*)::int AS n FROM kyc.banks WHERE code = $1`, [code])).rows[0].n as number;

test("a mutating call without a key is INVALID_ARGUMENT naming the header", async () => {
  const res = await createBank(null, "NOKEY");
  assert.is(res.status, 400);
  assert.is(res.json.details[0].debug.reason, "IDEMPOTENCY_KEY_REQUIRED");
  assert.is(res.json.details[0].debug.metadata.field, "idempotency-key");
  assert.is(await banksWithCode("NOKEY"), 0);
});

test("same key + same request → the first response, replayed, one bank", async () => {
  const first = await createBank("key-replay", "REPLAY1");
  assert.is(first.status, 200);
  for (let i = 0; i < 4; i++) {
    const again = await createBank("key-replay", "REPLAY1");
    assert.is(again.status, 200);
    assert.equal(again.json, first.json);
    assert.is(again.headers.get("idempotent-replayed"), "true");
  }
  assert.is(await banksWithCode("REPLAY1"), 1);
});

test("same key + different request → INVALID_ARGUMENT", async () => {
  await createBank("key-mismatch", "MISMATCH1");
  const other = await createBank("key-mismatch", "MISMATCH2");
  assert.is(other.status, 400);
  assert.is(other.json.details[0].debug.reason, "IDEMPOTENCY_KEY_REUSED");
  assert.is(await banksWithCode("MISMATCH2"), 0);
});

test("20 concurrent calls with one key → one execution; the rest replay or are ABORTED", async () => {
  const results = await Promise.all(Array.from({ length: 20 }, () => createBank("key-race", "RACE1")));
  const ok = results.filter((r) => r.status === 200);
  const aborted = results.filter((r) => r.status === 409);
  assert.is(ok.length + aborted.length, 20, `unexpected statuses ${results.map((r) => r.status).join(",")}`);
  for (const r of aborted) assert.is(r.json.details[0].debug.reason, "IDEMPOTENCY_KEY_IN_PROGRESS");
  for (const r of ok) assert.equal(r.json.bank.bankId, ok[0]!.json.bank.bankId);
  assert.is(await banksWithCode("RACE1"), 1);
});

test("keys are scoped to the caller", async () => {
  const other = await mintAccessToken(sys, principal(Role.SYSTEM_ADMIN));
  const a = await createBank("shared-key", "SCOPE1");
  const b = await createBank("shared-key", "SCOPE2", other);
  assert.is(a.status, 200);
  assert.is(b.status, 200, "another caller's key does not collide");
  assert.is.not(a.json.bank.bankId, b.json.bank.bankId);
});

test("a failed call releases its key so the retry runs", async () => {
  const bad = await postJson(sys.gatewayUrl, "fuel.kyc.v1.KycService/CreateBank", { name: "", code: "FAIL1", currency: "NGN" }, { authorization: `Bearer ${admin}`, "idempotency-key": "key-fail" });
  assert.is(bad.status, 400);
  const fixed = await postJson(sys.gatewayUrl, "fuel.kyc.v1.KycService/CreateBank", { name: "Fixed", code: "FAIL1", currency: "NGN" }, { authorization: `Bearer ${admin}`, "idempotency-key": "key-fail" });
  assert.is(fixed.status, 200);
});

test("a call running for several leases keeps its key: the same key meanwhile is ABORTED, then replays the one result", async () => {
  // The bank's INSERT waits on a lock the test holds, so the call runs as long as the test wants.
  const locker = new pg.Client({ connectionString: sys.databaseUrl });
  await locker.connect();
  await locker.query("BEGIN");
  await locker.query("LOCK TABLE kyc.banks IN SHARE MODE");
  const first = createBank("key-long", "LONG1");
  try {
    for (let i = 0; ; i++) {
      const r = await db.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'kyc' AND wait_event_type = 'Lock'`);
      if (r.rows[0].n > 0) break;
      assert.ok(i < 200, "the call reached the lock");
      await new Promise((res) => setTimeout(res, 25));
    }
    // Past two leases: a claim that was not renewed would have lapsed by now.
    await new Promise((res) => setTimeout(res, 2 * IDEMPOTENCY_LEASE_MS + 200));
    const meanwhile = await Promise.race([createBank("key-long", "LONG1"), new Promise<null>((res) => setTimeout(() => res(null), 2_000))]);
    assert.ok(meanwhile, "answered at once, not queued behind the first");
    assert.is(meanwhile!.status, 409);
    assert.is(meanwhile!.json.details[0].debug.reason, "IDEMPOTENCY_KEY_IN_PROGRESS");
  } finally {
    await locker.end(); // releases the lock either way
  }
  const done = await first;
  assert.is(done.status, 200);
  const replay = await createBank("key-long", "LONG1");
  assert.equal(replay.json, done.json);
  assert.is(replay.headers.get("idempotent-replayed"), "true");
  assert.is(await banksWithCode("LONG1"), 1);
});

test.run();
