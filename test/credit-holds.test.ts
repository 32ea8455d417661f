// CreditService holds against a real system: 200 concurrent holds on one line, the hold
// lifecycle (capture ≤ hold, resolves exactly once, expiry), idempotency of Hold under
// retries, concurrency and a Redis flush, and the ledger check after each run.
import { randomUUID } from "node:crypto";
import * as assert from "uvu/assert";
import { Code, ConnectError } from "@connectrpc/connect";
import { FuelType } from "../gen/fuel/common/v1/common_pb.js";
import { DeclineReason } from "../gen/fuel/credit/v1/credit_line_pb.js";
import { CreditService, HoldRequestSchema, ListHoldsRequestSchema } from "../gen/fuel/credit/v1/credit_pb.js";
import { create, toJsonString, type MessageInitShape } from "@bufbuild/protobuf";
import pg from "pg";
import { HoldStatus, JournalEntryKind } from "../gen/fuel/credit/v1/ledger_pb.js";
import { reasonOf } from "../platform/errors.js";
import { writeMovementIfUnchanged } from "../services/credit/ledger-store.js";
import { holdPostings, releasePostings } from "../services/credit/postings.js";
import { barrier, clientAs, creditAsService, creditSuite, Fixtures, ngn, rawServiceCall } from "./credit-fixtures.js";
import { connectJson } from "./helpers/clients.js";
import { realPostgres, realRedis, startTestSystem, type TestSystem } from "./helpers/system.js";

const test = creditSuite("credit holds");
let sys: TestSystem;
let fx: Fixtures;
const STATION = randomUUID();

type Amount = { amountMinor: bigint; currency: string };
interface HoldInit {
  driverId: string;
  transactionId: string;
  amount: Amount;
  stationId: string;
  fuelType: FuelType;
  allowPartial?: boolean;
  minAmount?: Amount;
  ttlSeconds?: number;
}
const holdReq = (driverId: string, amount: bigint, extra: Partial<HoldInit> = {}): HoldInit => ({
  driverId, transactionId: randomUUID(), amount: ngn(amount), stationId: STATION, fuelType: FuelType.DIESEL, ...extra,
});

async function rejects(p: Promise<unknown>, code: Code, reason?: string) {
  try {
    await p;
  } catch (err) {
    const ce = ConnectError.from(err);
    assert.is(Code[ce.code], Code[code], ce.message);
    if (reason) assert.is(reasonOf(ce), reason);
    return;
  }
  assert.unreachable(`expected ${Code[code]}`);
}

async function assertLedgerClean() {
  const r = await fx.creditAdmin().verifyLedger({});
  assert.equal(r.differences, [], JSON.stringify(r.differences.map((d) => [d.creditLineId, d.account, d.cached?.amountMinor.toString(), d.computed?.amountMinor.toString()])));
  assert.equal(r.unbalancedEntryIds, []);
  assert.equal(r.inconsistentHoldIds, []);
  assert.ok(r.consistent);
  assert.ok(r.linesChecked > 0n);
}

/** A KYC-verified driver with a root line of `limit` at a fresh bank. */
async function driverWithLine(limit: bigint) {
  const bank = await fx.bank(limit);
  const d = await fx.driver();
  const res = await bank.credit.createCreditLine({ owner: { case: "driverId", value: d.driverId }, currency: "NGN" });
  return { ...d, bank, line: res.creditLine! };
}

test.before(async () => {
  process.env.CREDIT_EXPIRY_SWEEP_MS = "3600000"; // this suite drives expiry itself
  sys = await startTestSystem();
  fx = await Fixtures.create(sys);
});
test.after(async () => await sys?.stop());

test("concurrent holds against one line: exactly the number that fit are approved", async () => {
  const n = realPostgres() ? 200 : 60;
  const fit = Math.floor(n / 3);
  const { driverId, line } = await driverWithLine(BigInt(fit) * 1000n);
  assert.is(line.limit!.amountMinor, BigInt(fit) * 1000n);
  const credit = creditAsService(sys);
  const wait = barrier(n);
  const results = await Promise.all(Array.from({ length: n }, async () => {
    await wait();
    return await credit.hold(holdReq(driverId, 1000n));
  }));
  const approved = results.filter((r) => r.approved);
  assert.is(approved.length, fit);
  for (const r of results.filter((r) => !r.approved)) assert.is(r.declineReason, DeclineReason.INSUFFICIENT_CREDIT);
  const after = (await fx.creditAdmin().getCreditLine({ creditLineId: line.creditLineId })).creditLine!;
  assert.is(after.held!.amountMinor, BigInt(fit) * 1000n);
  assert.is(after.available!.amountMinor, 0n);
  await assertLedgerClean();
});

test("partial approval takes what is left, down to min_amount", async () => {
  const { driverId } = await driverWithLine(5000n);
  const credit = creditAsService(sys);
  const a = await credit.hold(holdReq(driverId, 3500n));
  assert.ok(a.approved);
  assert.is(a.spendable!.amountMinor, 1500n);
  const full = await credit.hold(holdReq(driverId, 2000n));
  assert.not.ok(full.approved);
  assert.is(full.declineReason, DeclineReason.INSUFFICIENT_CREDIT);
  const tooSmall = await credit.hold(holdReq(driverId, 2000n, { allowPartial: true, minAmount: ngn(1600n) }));
  assert.is(tooSmall.declineReason, DeclineReason.BELOW_MINIMUM_AMOUNT);
  const partial = await credit.hold(holdReq(driverId, 2000n, { allowPartial: true, minAmount: ngn(1000n) }));
  assert.ok(partial.approved);
  assert.is(partial.hold!.amount!.amountMinor, 1500n);
  assert.is(partial.hold!.requestedAmount!.amountMinor, 2000n);
  await assertLedgerClean();
});

test("hold lifecycle: capture ≤ hold releases the rest; each hold resolves once", async () => {
  const { driverId, line } = await driverWithLine(10_000n);
  const credit = creditAsService(sys);
  const h = (await credit.hold(holdReq(driverId, 4000n))).hold!;
  await rejects(credit.capture({ holdId: h.holdId, amount: ngn(4001n) }), Code.FailedPrecondition, "AMOUNT_EXCEEDS_HOLD");
  const cap = await credit.capture({ holdId: h.holdId, amount: ngn(3000n) });
  assert.is(cap.hold!.status, HoldStatus.CAPTURED);
  assert.is(cap.hold!.releasedAmount!.amountMinor, 1000n);
  assert.is(cap.hold!.journalEntryIds.length, 2);
  let l = (await fx.creditAdmin().getCreditLine({ creditLineId: line.creditLineId })).creditLine!;
  assert.is(l.used!.amountMinor, 3000n);
  assert.is(l.held!.amountMinor, 0n);
  assert.is(l.available!.amountMinor, 7000n);
  // A second capture under another key, and a void after capture, are refused.
  await rejects(credit.capture({ holdId: h.holdId, amount: ngn(3000n) }), Code.FailedPrecondition, "HOLD_ALREADY_RESOLVED");
  await rejects(credit.void({ holdId: h.holdId, reason: "late" }), Code.FailedPrecondition, "HOLD_ALREADY_RESOLVED");

  const v = (await credit.hold(holdReq(driverId, 2000n))).hold!;
  const voided = await credit.void({ holdId: v.holdId, reason: "driver cancelled at pump" });
  assert.is(voided.hold!.status, HoldStatus.VOIDED);
  await rejects(credit.capture({ holdId: v.holdId, amount: ngn(1n) }), Code.FailedPrecondition, "HOLD_ALREADY_RESOLVED");
  l = (await fx.creditAdmin().getCreditLine({ creditLineId: line.creditLineId })).creditLine!;
  assert.is(l.available!.amountMinor, 7000n);

  // Capture of a hold past its window: expired by the call, refused, amount released.
  const e = (await credit.hold(holdReq(driverId, 1500n, { ttlSeconds: 60 }))).hold!;
  sys.clock.advance(61_000);
  await rejects(credit.capture({ holdId: e.holdId, amount: ngn(1500n) }), Code.FailedPrecondition, "HOLD_EXPIRED");
  const got = (await credit.getHold({ key: { case: "holdId", value: e.holdId } })).hold!;
  assert.is(got.status, HoldStatus.EXPIRED);
  assert.is(got.releasedAmount!.amountMinor, 1500n);
  await rejects(credit.capture({ holdId: e.holdId, amount: ngn(1n) }), Code.FailedPrecondition, "HOLD_EXPIRED");
  await rejects(credit.capture({ holdId: randomUUID(), amount: ngn(1n) }), Code.NotFound);
  await assertLedgerClean();
});

test("two concurrent expiry sweeps release each hold once", async () => {
  const { driverId, line } = await driverWithLine(100_000n);
  const credit = creditAsService(sys);
  const n = 30;
  for (let i = 0; i < n; i++) assert.ok((await credit.hold(holdReq(driverId, 1000n, { ttlSeconds: 60 }))).approved);
  sys.clock.advance(120_000);
  const [a, b] = await Promise.all([credit.expireHolds({ maxHolds: 5000 }), credit.expireHolds({ maxHolds: 5000 })]);
  const ids = [...a.expiredHolds, ...b.expiredHolds].map((h) => h.holdId);
  assert.is(new Set(ids).size, n, "a hold was expired twice");
  const l = (await fx.creditAdmin().getCreditLine({ creditLineId: line.creditLineId })).creditLine!;
  assert.is(l.held!.amountMinor, 0n);
  assert.is(l.available!.amountMinor, 100_000n);
  const entries = await fx.creditAdmin().listLedgerEntries({ creditLineId: line.creditLineId, kinds: [5], pageSize: 200 });
  assert.is(entries.entries.length, n, "one EXPIRY entry per hold");
  await assertLedgerClean();
});

test("a hold decided on lines that no longer fit writes nothing; the next hold decides again", async () => {
  const { driverId, line } = await driverWithLine(5000n);
  const pool = new pg.Pool({ connectionString: sys.databaseOf("credit"), max: 1 });
  try {
    const row = (await pool.query(`SELECT version FROM credit.lines WHERE line_id = $1`, [line.creditLineId])).rows[0] as { version: string };
    const stale = BigInt(row.version) - 1n;
    const entryId = randomUUID();
    const key = randomUUID();
    const written = await writeMovementIfUnchanged(pool, [{
      entryId, kind: JournalEntryKind.HOLD, currency: "NGN", description: "stale", actorId: "test",
      postings: holdPostings([line.creditLineId], 1000n),
    }], new Date(), [], {
      // A version that moved, and a line that no longer has what the decision needs.
      fits: new Map([[line.creditLineId, { version: stale, status: "ACTIVE", controls: null, dailyControls: false, needs: 5001n }]]),
      keys: [{ table: "credit.idempotency_keys", scope: "test", key, requestHash: "h", response: new Uint8Array([1]) }],
    });
    assert.is(written, null);
    const facts = (await pool.query(
      `SELECT (SELECT count(*)::int FROM credit.journal_entries WHERE entry_id = $1) AS entries,
              (SELECT count(*)::int FROM credit.idempotency_keys WHERE scope = 'test' AND key = $2) AS keys,
              (SELECT held::text FROM credit.lines WHERE line_id = $3) AS held`,
      [entryId, key, line.creditLineId],
    )).rows[0];
    assert.equal(facts, { entries: 0, keys: 0, held: "0" });
    // Only its counters moved and it still has enough: the decision stands.
    const now = (await pool.query(`SELECT status, controls FROM credit.lines WHERE line_id = $1`, [line.creditLineId])).rows[0] as { status: string; controls: Buffer | null };
    const fitting = await writeMovementIfUnchanged(pool, [{
      entryId: randomUUID(), kind: JournalEntryKind.HOLD, currency: "NGN", description: "fits", actorId: "test",
      postings: holdPostings([line.creditLineId], 1000n),
    }], new Date(), [], {
      fits: new Map([[line.creditLineId, { version: stale, status: now.status, controls: now.controls, dailyControls: false, needs: 1000n }]]),
      keys: [{ table: "credit.idempotency_keys", scope: "test", key: randomUUID(), requestHash: "h", response: new Uint8Array([1]) }],
    });
    assert.is(fitting?.get(line.creditLineId)?.held, 1000n);
    // Give it back, so the ledger stays as the holds say.
    await writeMovementIfUnchanged(pool, [{
      entryId: randomUUID(), kind: JournalEntryKind.VOID, currency: "NGN", description: "undo", actorId: "test",
      postings: releasePostings([line.creditLineId], 1000n),
    }], new Date(), [], {
      fits: new Map([[line.creditLineId, { version: stale + 2n, status: now.status, controls: now.controls, dailyControls: false, needs: 0n }]]),
      keys: [{ table: "credit.idempotency_keys", scope: "test", key: randomUUID(), requestHash: "h", response: new Uint8Array([1]) }],
    });
  } finally {
    await pool.end();
  }
  const credit = creditAsService(sys);
  assert.ok((await credit.hold(holdReq(driverId, 1000n))).approved);
  await assertLedgerClean();
});

const holdJson = (req: HoldInit) => toJsonString(HoldRequestSchema, create(HoldRequestSchema, req));

test("Hold idempotency: same key ×5 → one hold, identical responses", async () => {
  const { driverId, line } = await driverWithLine(50_000n);
  const req = holdReq(driverId, 1000n);
  const key = randomUUID();
  const responses = [];
  for (let i = 0; i < 5; i++) responses.push(await rawServiceCall(sys, "Hold", holdJson(req), key));
  assert.is(responses[0]!.status, 200, responses[0]!.body);
  assert.ok(JSON.parse(responses[0]!.body).approved);
  for (const r of responses) assert.is(r.body, responses[0]!.body);
  assert.ok(responses.slice(1).every((r) => r.replayed));
  const l = (await fx.creditAdmin().getCreditLine({ creditLineId: line.creditLineId })).creditLine!;
  assert.is(l.held!.amountMinor, 1000n);
  // Same key, other amount → INVALID_ARGUMENT.
  const other = await rawServiceCall(sys, "Hold", holdJson({ ...req, amount: ngn(2000n) }), key);
  assert.is(other.status, 400);
  assert.match(other.body, "IDEMPOTENCY_KEY_REUSED");
  // Same transaction under a new key → the same hold; a different request for it → ALREADY_EXISTS.
  const credit = creditAsService(sys);
  const again = await credit.hold(req);
  assert.is(again.hold!.holdId, JSON.parse(responses[0]!.body).hold.holdId);
  // Hold names the line's bank, first time and again, so its caller never asks for the line.
  assert.is(JSON.parse(responses[0]!.body).bankId, line.bankId);
  assert.is(again.bankId, line.bankId);
  await rejects(credit.hold({ ...req, amount: ngn(999n) }), Code.AlreadyExists, "HOLD_EXISTS_FOR_TRANSACTION");
});

test("Hold idempotency: 20 concurrent with one key → one execution", async () => {
  const { driverId, line } = await driverWithLine(50_000n);
  const body = holdJson(holdReq(driverId, 1000n));
  const key = randomUUID();
  const wait = barrier(20);
  const outcomes = await Promise.all(Array.from({ length: 20 }, async () => {
    await wait();
    return await rawServiceCall(sys, "Hold", body, key);
  }));
  const ok = outcomes.filter((o) => o.status === 200);
  assert.ok(ok.length >= 1);
  for (const r of ok) assert.is(r.body, ok[0]!.body);
  for (const o of outcomes.filter((o) => o.status !== 200)) assert.match(o.body, "aborted");
  const l = (await fx.creditAdmin().getCreditLine({ creditLineId: line.creditLineId })).creditLine!;
  assert.is(l.held!.amountMinor, 1000n);
});

async function forgetKey(method: string, key: string) {
  if (realRedis()) await sys.infra.kv.redis!.flushdb();
  else await sys.infra.kv.del(`idem:credit:fuel.credit.v1.CreditService/${method}:svc:transaction:${key}`);
}

test("Hold idempotency: the key store losing the key (Redis flush) still gives one hold", async () => {
  const { driverId, line } = await driverWithLine(50_000n);
  const body = holdJson(holdReq(driverId, 1000n));
  const key = randomUUID();
  const first = await rawServiceCall(sys, "Hold", body, key);
  await forgetKey("Hold", key);
  const retry = await rawServiceCall(sys, "Hold", body, key);
  assert.ok(retry.replayed, "the Postgres guard answered the retry from the stored response, and says so");
  assert.is(retry.body, first.body);
  const l = (await fx.creditAdmin().getCreditLine({ creditLineId: line.creditLineId })).creditLine!;
  assert.is(l.held!.amountMinor, 1000n);
  // Capture is guarded the same way.
  const holdId = JSON.parse(first.body).hold.holdId as string;
  const capBody = JSON.stringify({ holdId, amount: { amountMinor: "800", currency: "NGN" } });
  const capKey = randomUUID();
  const c1 = await rawServiceCall(sys, "Capture", capBody, capKey);
  await forgetKey("Capture", capKey);
  const c2 = await rawServiceCall(sys, "Capture", capBody, capKey);
  assert.is(c1.status, 200, c1.body);
  assert.is(c2.body, c1.body);
  const after = (await fx.creditAdmin().getCreditLine({ creditLineId: line.creditLineId })).creditLine!;
  assert.is(after.used!.amountMinor, 800n);
  assert.is(after.held!.amountMinor, 0n);
  await assertLedgerClean();
});

test("declines are responses: no line, frozen line, controls", async () => {
  const credit = creditAsService(sys);
  const none = await credit.hold(holdReq(randomUUID(), 100n));
  assert.not.ok(none.approved);
  assert.is(none.declineReason, DeclineReason.NO_CREDIT_LINE);
  await rejects(credit.hold(holdReq(randomUUID(), 0n)), Code.InvalidArgument);
  await rejects(credit.hold({ ...holdReq(randomUUID(), 10n), fuelType: FuelType.UNSPECIFIED }), Code.InvalidArgument);
  await rejects(credit.hold(holdReq(randomUUID(), 10n, { ttlSeconds: 10 })), Code.InvalidArgument);

  const { driverId, line, bank } = await driverWithLine(10_000n);
  const withControls = await bank.credit.updateSpendingControls({
    creditLineId: line.creditLineId, expectedVersion: line.version,
    controls: { perTransactionMax: ngn(3000n), allowedFuelTypes: [FuelType.DIESEL], dailyMax: ngn(5000n), timeZone: "Africa/Lagos" },
  });
  assert.is(withControls.creditLine!.version, line.version + 1n);
  assert.is((await credit.hold(holdReq(driverId, 100n, { fuelType: FuelType.PETROL }))).declineReason, DeclineReason.FUEL_TYPE_NOT_ALLOWED);
  assert.is((await credit.hold(holdReq(driverId, 3500n))).declineReason, DeclineReason.PER_TRANSACTION_LIMIT_EXCEEDED);
  const capped = await credit.hold(holdReq(driverId, 3500n, { allowPartial: true }));
  assert.is(capped.hold!.amount!.amountMinor, 3000n);
  assert.is((await credit.hold(holdReq(driverId, 2500n))).declineReason, DeclineReason.DAILY_LIMIT_EXCEEDED);
  assert.ok((await credit.hold(holdReq(driverId, 2000n))).approved);
  const check = await credit.checkAvailability({ driverId, amount: ngn(10n), stationId: STATION, fuelType: FuelType.DIESEL });
  assert.is(check.declineReason, DeclineReason.DAILY_LIMIT_EXCEEDED);
  const avail = await credit.getAvailableCredit({ driverId, priceMinorPerLitre: 700n });
  assert.is(avail.spendable!.amountMinor, 0n);

  const cur = (await bank.credit.getCreditLine({ creditLineId: line.creditLineId })).creditLine!;
  await bank.credit.freezeCreditLine({ creditLineId: line.creditLineId, expectedVersion: cur.version, reason: "review" });
  assert.is((await credit.hold(holdReq(driverId, 1n))).declineReason, DeclineReason.CREDIT_LINE_FROZEN);
  await assertLedgerClean();
});

test("ListHolds: a driver's own holds newest first, by status, in pages; an agency's line lists its drivers'", async () => {
  const credit = creditAsService(sys);
  const lone = await driverWithLine(100_000n);
  const placed = [];
  for (const amount of [1_000n, 2_000n, 3_000n]) placed.push((await credit.hold(holdReq(lone.driverId, amount))).hold!);
  await credit.capture({ holdId: placed[0]!.holdId, amount: ngn(800n) });
  await credit.void({ holdId: placed[1]!.holdId, reason: "pump failed" });

  // The driver's app, through the gateway over Connect JSON.
  const app = connectJson(CreditService, sys.gatewayUrl, lone.token);
  const all = await app.listHolds({ creditLineId: lone.line.creditLineId });
  assert.equal(all.holds.map((h) => h.holdId), placed.map((h) => h.holdId).reverse(), "newest first");
  assert.equal(all.holds.map((h) => HoldStatus[h.status]), ["PENDING", "VOIDED", "CAPTURED"]);
  assert.is(all.holds[2]!.capturedAmount!.amountMinor, 800n);
  assert.is(all.holds[2]!.releasedAmount!.amountMinor, 200n);
  assert.is(all.nextPageToken, "");
  const pending = await app.listHolds({ creditLineId: lone.line.creditLineId, statuses: [HoldStatus.PENDING] });
  assert.equal(pending.holds.map((h) => [h.holdId, h.amount!.amountMinor]), [[placed[2]!.holdId, 3_000n]], "what is reserved now");
  const first = await app.listHolds({ creditLineId: lone.line.creditLineId, pageSize: 2 });
  assert.is(first.holds.length, 2);
  const second = await app.listHolds({ creditLineId: lone.line.creditLineId, pageSize: 2, pageToken: first.nextPageToken });
  assert.equal([...first.holds, ...second.holds].map((h) => h.holdId), all.holds.map((h) => h.holdId));
  assert.is(second.nextPageToken, "");

  // An agency's line carries every hold of its drivers; it sees none of anyone else's.
  const bank = await fx.bank(50_000n);
  const agency = await fx.verifiedAgency();
  const root = (await bank.credit.createCreditLine({ owner: { case: "agencyId", value: agency.agencyId }, currency: "NGN" })).creditLine!;
  const drivers = [await fx.driver(agency.agencyId), await fx.driver(agency.agencyId)];
  for (const d of drivers) {
    await bank.credit.createCreditLine({ owner: { case: "driverId", value: d.driverId }, currency: "NGN", parentCreditLineId: root.creditLineId });
    await credit.hold(holdReq(d.driverId, 500n));
  }
  const agencyCredit = clientAs(CreditService, sys.cfg.urls.credit, agency.adminToken);
  const fleet = await agencyCredit.listHolds({ creditLineId: root.creditLineId });
  assert.equal(new Set(fleet.holds.map((h) => h.driverId)), new Set(drivers.map((d) => d.driverId)));
  assert.ok(fleet.holds.every((h) => h.parentCreditLineId === root.creditLineId));
  await rejects(agencyCredit.listHolds({ creditLineId: lone.line.creditLineId }), Code.NotFound, "CREDIT_LINE_NOT_FOUND");
  await rejects(bank.credit.listHolds({ creditLineId: lone.line.creditLineId }), Code.NotFound, "CREDIT_LINE_NOT_FOUND");
  await rejects(connectJson(CreditService, sys.gatewayUrl, drivers[0]!.token).listHolds({ creditLineId: root.creditLineId }), Code.NotFound);

  // Bad input names its field.
  const bad: Array<[MessageInitShape<typeof ListHoldsRequestSchema>, string]> = [
    [{ creditLineId: "" }, "credit_line_id"],
    [{ creditLineId: lone.line.creditLineId, statuses: [99 as HoldStatus] }, "statuses"],
    [{ creditLineId: lone.line.creditLineId, pageSize: -1 }, "page_size"],
    [{ creditLineId: lone.line.creditLineId, pageToken: "x" }, "page_token"],
  ];
  for (const [req, field] of bad) {
    const err = await app.listHolds(req).then(() => null, (e: unknown) => ConnectError.from(e));
    assert.is(err?.code, Code.InvalidArgument, field);
    assert.match(err!.message, field);
  }
});

test.run();
