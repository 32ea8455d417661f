// CreditService lines against a real system: the agency → driver hierarchy under
// concurrency, optimistic versions, object-level access (a bank through the gateway with
// grpc-js, as its core system calls us), limit changes and the decrease policy,
// freeze/unfreeze/close, risk assessments and policies, RestoreCredit, the expiry sweeper.
import { randomUUID } from "node:crypto";
import pg from "pg";
import * as assert from "uvu/assert";
import { Code, ConnectError } from "@connectrpc/connect";
import { FuelType, Role } from "../gen/fuel/common/v1/common_pb.js";
import { CreditLineStatus, DeclineReason, LimitDecreasePolicy, LimitSource, RiskCategory } from "../gen/fuel/credit/v1/credit_line_pb.js";
import { CreditService } from "../gen/fuel/credit/v1/credit_pb.js";
import { HoldStatus, JournalEntryKind } from "../gen/fuel/credit/v1/ledger_pb.js";
import { reasonOf } from "../platform/errors.js";
import { barrier, clientAs, creditAsService, creditSuite, Fixtures, ngn, tokenFor } from "./credit-fixtures.js";
import { GrpcJsClient } from "./helpers/clients.js";
import { realPostgres, startTestSystem, type TestSystem } from "./helpers/system.js";

const test = creditSuite("credit lines");
let sys: TestSystem;
let fx: Fixtures;
const STATION = randomUUID();

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
  assert.equal(r.differences.map((d) => `${d.creditLineId}/${d.account}`), []);
  assert.equal(r.unbalancedEntryIds, []);
  assert.equal(r.inconsistentHoldIds, []);
  assert.ok(r.consistent);
}

test.before(async () => {
  process.env.CREDIT_EXPIRY_SWEEP_MS = "200";
  sys = await startTestSystem();
  fx = await Fixtures.create(sys);
});
test.after(async () => await sys?.stop());

test("agency hierarchy under concurrency: drivers never exceed their sub-limits, together never the agency line", async () => {
  const bank = await fx.bank(20_000n);
  const agency = await fx.verifiedAgency();
  const root = (await bank.credit.createCreditLine({ owner: { case: "agencyId", value: agency.agencyId }, currency: "NGN" })).creditLine!;
  assert.is(root.limit!.amountMinor, 20_000n);
  assert.is(root.limitSource, LimitSource.POLICY);
  const drivers = await Promise.all([0, 1, 2, 3].map(() => fx.driver(agency.agencyId)));
  // Two drivers capped at 6 000, two drawing on the parent's availability; the agency
  // admin opens one of them itself.
  const agencyCredit = clientAs(CreditService, sys.cfg.urls.credit, agency.adminToken);
  const subs = [];
  for (const [i, d] of drivers.entries()) {
    const creator = i === 3 ? agencyCredit : bank.credit;
    const res = await creator.createCreditLine({
      owner: { case: "driverId", value: d.driverId }, currency: "NGN", parentCreditLineId: root.creditLineId,
      ...(i < 2 ? { subLimit: ngn(6_000n) } : {}),
    });
    subs.push(res.creditLine!);
  }
  assert.is(subs[0]!.limitSource, LimitSource.SUB_LIMIT);
  assert.is(subs[2]!.limitSource, LimitSource.PARENT);
  assert.is(subs[2]!.limit!.amountMinor, 20_000n);
  assert.is(subs[0]!.bankId, bank.bankId);

  const credit = creditAsService(sys);
  const per = realPostgres() ? 40 : 12;
  const wait = barrier(per * drivers.length);
  const results = await Promise.all(drivers.flatMap((d) => Array.from({ length: per }, async () => {
    await wait();
    const r = await credit.hold({ driverId: d.driverId, transactionId: randomUUID(), amount: ngn(700n), stationId: STATION, fuelType: FuelType.DIESEL, allowPartial: true, minAmount: ngn(100n) });
    return { driverId: d.driverId, r };
  })));
  const byDriver = new Map<string, bigint>();
  for (const { driverId, r } of results) if (r.approved) byDriver.set(driverId, (byDriver.get(driverId) ?? 0n) + r.hold!.amount!.amountMinor);
  const total = [...byDriver.values()].reduce((a, b) => a + b, 0n);
  assert.ok(total <= 20_000n, `agency line exceeded: ${total}`);
  assert.is(total, 20_000n, "with partial approval the agency line is used to the last unit");
  for (const d of drivers.slice(0, 2)) assert.ok((byDriver.get(d.driverId) ?? 0n) <= 6_000n, "a sub-limit was exceeded");
  const parent = (await bank.credit.getCreditLine({ creditLineId: root.creditLineId })).creditLine!;
  assert.is(parent.held!.amountMinor, total);
  for (const { r } of results) if (!r.approved) assert.ok([DeclineReason.PARENT_INSUFFICIENT_CREDIT, DeclineReason.INSUFFICIENT_CREDIT, DeclineReason.BELOW_MINIMUM_AMOUNT].includes(r.declineReason));
  await assertLedgerClean();

  // Freezing the agency line blocks every driver under it.
  await bank.credit.freezeCreditLine({ creditLineId: root.creditLineId, expectedVersion: parent.version, reason: "audit" });
  const blocked = await credit.hold({ driverId: drivers[2]!.driverId, transactionId: randomUUID(), amount: ngn(1n), stationId: STATION, fuelType: FuelType.DIESEL });
  assert.is(blocked.declineReason, DeclineReason.PARENT_LINE_FROZEN);
  // The agency admin cannot lift the bank's freeze.
  const frozen = (await bank.credit.getCreditLine({ creditLineId: root.creditLineId })).creditLine!;
  await rejects(agencyCredit.unfreezeCreditLine({ creditLineId: root.creditLineId, expectedVersion: frozen.version, reason: "please" }), Code.PermissionDenied);
  const subFrozen = await agencyCredit.freezeCreditLine({ creditLineId: subs[0]!.creditLineId, expectedVersion: (await agencyCredit.getCreditLine({ creditLineId: subs[0]!.creditLineId })).creditLine!.version, reason: "lost card" });
  await bank.credit.unfreezeCreditLine({ creditLineId: root.creditLineId, expectedVersion: frozen.version, reason: "audit done" });
  const bankFrozen = await bank.credit.unfreezeCreditLine({ creditLineId: subs[0]!.creditLineId, expectedVersion: subFrozen.creditLine!.version, reason: "found" });
  assert.is(bankFrozen.creditLine!.status, CreditLineStatus.ACTIVE);
  // A freeze by the bank cannot be lifted by the agency.
  const s1 = (await bank.credit.getCreditLine({ creditLineId: subs[1]!.creditLineId })).creditLine!;
  const byBank = await bank.credit.freezeCreditLine({ creditLineId: s1.creditLineId, expectedVersion: s1.version, reason: "bank review" });
  await rejects(agencyCredit.unfreezeCreditLine({ creditLineId: s1.creditLineId, expectedVersion: byBank.creditLine!.version, reason: "ok" }), Code.FailedPrecondition, "FROZEN_BY_HIGHER_AUTHORITY");
});

test("an agency line with a thousand sub-lines: every concurrent hold reserves on the parent too", async () => {
  // Found by the hot-line bench: with many sub-lines the planner joined the lock query
  // differently, and when the contended parent row changed while a hold waited for its
  // lock, the re-check dropped the parent from the result — the hold went on the driver's
  // line alone. Here the table looks like the bench's, and many holds wait on one parent.
  const bank = await fx.bank(1_000_000_000n);
  const agency = await fx.verifiedAgency();
  const root = (await bank.credit.createCreditLine({ owner: { case: "agencyId", value: agency.agencyId }, currency: "NGN" })).creditLine!;
  const drivers = await Promise.all(Array.from({ length: 8 }, () => fx.driver(agency.agencyId)));
  let sub = "";
  for (const d of drivers) {
    sub = (await bank.credit.createCreditLine({ owner: { case: "driverId", value: d.driverId }, currency: "NGN", parentCreditLineId: root.creditLineId })).creditLine!.creditLineId;
  }
  // 1 000 more sub-lines, written directly (onboarding 1 000 drivers would take minutes).
  // They hold no credit of their own (limit 0, so the ledger has nothing to post for them);
  // they are there so the table looks to the planner as the bench's did.
  const db = new pg.Client({ connectionString: sys.databaseUrl });
  await db.connect();
  try {
    const cols = (await db.query<{ c: string }>(`SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) AS c FROM information_schema.columns WHERE table_schema = 'credit' AND table_name = 'lines'`)).rows[0]!.c;
    const copied = cols.replace(/\bline_id\b/, "gen_random_uuid()").replace(/\bowner_id\b/, "gen_random_uuid()").replace(/\blimit_minor\b/, "0");
    await db.query(`INSERT INTO credit.lines (${cols}) SELECT ${copied} FROM credit.lines, generate_series(1, 1000) WHERE line_id = $1`, [sub]);
    await db.query(`ANALYZE credit.lines`);
  } finally {
    await db.end();
  }
  const credit = creditAsService(sys);
  const per = realPostgres() ? 12 : 4;
  const wait = barrier(per * drivers.length);
  const results = await Promise.all(drivers.flatMap(({ driverId }) => Array.from({ length: per }, async () => {
    await wait();
    return await credit.hold({ driverId, transactionId: randomUUID(), amount: ngn(700n), stationId: STATION, fuelType: FuelType.DIESEL });
  })));
  assert.ok(results.every((r) => r.approved), "the line had room for every hold");
  const parent = (await bank.credit.getCreditLine({ creditLineId: root.creditLineId })).creditLine!;
  assert.is(parent.held!.amountMinor, 700n * BigInt(results.length), "every hold reserved on the agency line");
  // Holds that waited on the agency line went as batches: rows one statement wrote share
  // its transaction id (xmin). Fewer transactions than holds, none above the batch limit.
  const batches = await holdBatchesOn(root.creditLineId);
  assert.is(batches.reduce((a, b) => a + b, 0), results.length);
  assert.ok(batches.length < results.length, `no hold was batched: ${batches.length} transactions for ${results.length} holds`);
  assert.ok(Math.max(...batches) <= 32, `a batch above CREDIT_HOLD_BATCH_MAX: ${Math.max(...batches)}`);
  await assertLedgerClean();
});

/** How many holds on `parentLineId` each writing transaction made. */
async function holdBatchesOn(parentLineId: string): Promise<number[]> {
  const db = new pg.Client({ connectionString: sys.databaseOf("credit") });
  await db.connect();
  try {
    const rows = (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM credit.holds WHERE parent_line_id = $1 GROUP BY xmin::text`, [parentLineId])).rows;
    return rows.map((r) => r.n);
  } finally {
    await db.end();
  }
}

test("a retry inside a batch of holds on one agency line gets its first answer; the others still go", async () => {
  const bank = await fx.bank(1_000_000n);
  const agency = await fx.verifiedAgency();
  const root = (await bank.credit.createCreditLine({ owner: { case: "agencyId", value: agency.agencyId }, currency: "NGN" })).creditLine!;
  const drivers = await Promise.all(Array.from({ length: 6 }, () => fx.driver(agency.agencyId)));
  for (const d of drivers) {
    await bank.credit.createCreditLine({ owner: { case: "driverId", value: d.driverId }, currency: "NGN", parentCreditLineId: root.creditLineId });
  }
  const credit = creditAsService(sys);
  // Each driver's first hold, then its retry (the same transaction under a new key) in
  // the crowd with fresh holds: the retry fails any batch it joins as a second hold of its
  // transaction, and every member must still get its own answer.
  const firsts = await Promise.all(drivers.map((d) => credit.hold({ driverId: d.driverId, transactionId: randomUUID(), amount: ngn(500n), stationId: STATION, fuelType: FuelType.DIESEL })));
  const wait = barrier(drivers.length * 5);
  const crowd = await Promise.all(drivers.flatMap((d, i) => Array.from({ length: 5 }, async (_, j) => {
    await wait();
    const retry = j === 2;
    const transactionId = retry ? firsts[i]!.hold!.transactionId : randomUUID();
    return { retry, first: firsts[i]!, r: await credit.hold({ driverId: d.driverId, transactionId, amount: ngn(500n), stationId: STATION, fuelType: FuelType.DIESEL }) };
  })));
  for (const { retry, first, r } of crowd) {
    assert.ok(r.approved);
    if (retry) assert.is(r.hold!.holdId, first.hold!.holdId, "a retry gets the hold its transaction already has");
  }
  const parent = (await bank.credit.getCreditLine({ creditLineId: root.creditLineId })).creditLine!;
  assert.is(parent.held!.amountMinor, 500n * BigInt(drivers.length * 5), "one hold per transaction, retries none");
  await assertLedgerClean();
});

test("stale version → ABORTED; limit changes follow the decrease policy, never silently", async () => {
  const bank = await fx.bank(10_000n);
  const d = await fx.driver();
  const line = (await bank.credit.createCreditLine({ owner: { case: "driverId", value: d.driverId }, currency: "NGN", limitOverride: ngn(8_000n), overrideReason: "new customer" })).creditLine!;
  assert.is(line.limitSource, LimitSource.OVERRIDE);
  assert.is(line.version, 2n);
  const credit = creditAsService(sys);
  const h = await credit.hold({ driverId: d.driverId, transactionId: randomUUID(), amount: ngn(5_000n), stationId: STATION, fuelType: FuelType.DIESEL });
  assert.ok(h.approved);
  // The hold bumped the version: an admin change with the old one is refused.
  await rejects(bank.credit.updateCreditLimit({ creditLineId: line.creditLineId, expectedVersion: line.version, limit: ngn(9_000n), reason: "raise" }), Code.Aborted, "VERSION_MISMATCH");
  let cur = (await bank.credit.getCreditLine({ creditLineId: line.creditLineId })).creditLine!;
  await rejects(bank.credit.updateCreditLimit({ creditLineId: line.creditLineId, expectedVersion: cur.version, limit: ngn(10_001n), reason: "raise" }), Code.FailedPrecondition, "LIMIT_ABOVE_POLICY");
  await rejects(bank.credit.updateCreditLimit({ creditLineId: line.creditLineId, expectedVersion: cur.version, limit: ngn(4_000n), reason: "cut" }), Code.FailedPrecondition, "LIMIT_BELOW_EXPOSURE");
  const clamped = (await bank.credit.updateCreditLimit({ creditLineId: line.creditLineId, expectedVersion: cur.version, limit: ngn(4_000n), reason: "cut", decreasePolicy: LimitDecreasePolicy.CLAMP_TO_EXPOSURE })).creditLine!;
  assert.is(clamped.limit!.amountMinor, 5_000n);
  assert.is(clamped.available!.amountMinor, 0n);
  const over = (await bank.credit.updateCreditLimit({ creditLineId: line.creditLineId, expectedVersion: clamped.version, limit: ngn(3_000n), reason: "risk", decreasePolicy: LimitDecreasePolicy.ALLOW_OVER_LIMIT })).creditLine!;
  assert.is(over.available!.amountMinor, -2_000n);
  const declined = await credit.hold({ driverId: d.driverId, transactionId: randomUUID(), amount: ngn(1n), stationId: STATION, fuelType: FuelType.DIESEL, allowPartial: true });
  assert.is(declined.declineReason, DeclineReason.INSUFFICIENT_CREDIT);
  const max = (await bank.credit.updateCreditLimit({ creditLineId: line.creditLineId, expectedVersion: over.version, limit: ngn(10_000n), reason: "back to policy" })).creditLine!;
  assert.is(max.limitSource, LimitSource.POLICY);
  const entries = await bank.credit.listLedgerEntries({ creditLineId: line.creditLineId, kinds: [JournalEntryKind.LIMIT_CHANGE] });
  assert.is(entries.entries.length, 4);
  // Controls and close also carry the version.
  await rejects(bank.credit.updateSpendingControls({ creditLineId: line.creditLineId, expectedVersion: over.version, controls: {} }), Code.Aborted, "VERSION_MISMATCH");
  await rejects(bank.credit.closeCreditLine({ creditLineId: line.creditLineId, expectedVersion: max.version, reason: "done" }), Code.FailedPrecondition, "HOLDS_PENDING");
  await credit.void({ holdId: h.hold!.holdId, reason: "cancelled" });
  cur = (await bank.credit.getCreditLine({ creditLineId: line.creditLineId })).creditLine!;
  const closed = (await bank.credit.closeCreditLine({ creditLineId: line.creditLineId, expectedVersion: cur.version, reason: "done" })).creditLine!;
  assert.is(closed.status, CreditLineStatus.CLOSED);
  assert.ok(closed.closeTime);
  assert.is((await credit.hold({ driverId: d.driverId, transactionId: randomUUID(), amount: ngn(1n), stationId: STATION, fuelType: FuelType.DIESEL })).declineReason, DeclineReason.NO_CREDIT_LINE);
  await assertLedgerClean();
});

test("access: a bank (grpc-js through the gateway) sees only its own lines; drivers only theirs", async () => {
  const a = await fx.bank(5_000n);
  const b = await fx.bank(5_000n);
  const d = await fx.driver();
  const line = (await a.credit.createCreditLine({ owner: { case: "driverId", value: d.driverId }, currency: "NGN" })).creditLine!;
  const core = new GrpcJsClient(CreditService, sys.gatewayUrl, b.token);
  try {
    await core.unary(CreditService.method.getCreditLine, { creditLineId: line.creditLineId });
    assert.unreachable("bank B read bank A's line");
  } catch (err) {
    assert.is((err as { code: number }).code, 5 /* NOT_FOUND */);
  }
  const listed = await core.unary(CreditService.method.listCreditLines, {});
  assert.not.ok(listed.message.creditLines.some((l) => l.creditLineId === line.creditLineId));
  core.setToken(a.token);
  const own = await core.unary(CreditService.method.getCreditLine, { creditLineId: line.creditLineId });
  assert.is(own.message.creditLine!.creditLineId, line.creditLineId);
  core.close();
  await rejects(b.credit.listLedgerEntries({ creditLineId: line.creditLineId }), Code.NotFound);
  await rejects(b.credit.updateCreditLimit({ creditLineId: line.creditLineId, expectedVersion: line.version, limit: ngn(1n), reason: "x" }), Code.NotFound);
  const driverCredit = clientAs(CreditService, sys.cfg.urls.credit, d.token);
  assert.is((await driverCredit.getCreditLine({ creditLineId: line.creditLineId })).creditLine!.creditLineId, line.creditLineId);
  const avail = await driverCredit.getAvailableCredit({ priceMinorPerLitre: 700n });
  assert.is(avail.spendable!.amountMinor, 5_000n);
  assert.is(avail.spendableVolumeMl, (5_000n * 1000n) / 700n);
  const stranger = clientAs(CreditService, sys.cfg.urls.credit, await tokenFor(sys, Role.DRIVER, { driverId: randomUUID() }));
  await rejects(stranger.getCreditLine({ creditLineId: line.creditLineId }), Code.NotFound);
  await rejects(stranger.getAvailableCredit({ driverId: d.driverId }), Code.NotFound);
  assert.is((await stranger.listCreditLines({})).creditLines.length, 0);
  // Internal methods are not for end users, even through the service port.
  await rejects(a.credit.hold({ driverId: d.driverId, transactionId: randomUUID(), amount: ngn(1n), stationId: STATION, fuelType: FuelType.DIESEL }), Code.PermissionDenied);
});

test("risk: assessments are stored with reasons; lines need a policy, verified KYC and an eligible category", async () => {
  const bank = await fx.bank(9_000n);
  const d = await fx.driver();
  const assessed = (await bank.credit.assessRisk({ subject: { case: "driverId", value: d.driverId } })).assessment!;
  assert.is(assessed.category, RiskCategory.MEDIUM);
  assert.ok(assessed.inputs!.kycVerified);
  assert.ok(assessed.reasons.length > 0);
  assert.is(assessed.requestedByBankId, bank.bankId);
  const list = await bank.credit.listRiskAssessments({ subject: { case: "driverId", value: d.driverId } });
  assert.is(list.assessments[0]!.riskAssessmentId, assessed.riskAssessmentId);
  const other = await fx.bank(1n);
  await rejects(other.credit.listRiskAssessments({ subject: { case: "driverId", value: d.driverId } }), Code.NotFound);
  const created = await bank.credit.createCreditLine({ owner: { case: "driverId", value: d.driverId }, currency: "NGN" });
  assert.is(created.assessment!.riskAssessmentId, assessed.riskAssessmentId, "a recent assessment is reused");
  assert.is(created.creditLine!.riskCategory, RiskCategory.MEDIUM);
  await rejects(bank.credit.createCreditLine({ owner: { case: "driverId", value: d.driverId }, currency: "NGN" }), Code.AlreadyExists, "CREDIT_LINE_EXISTS");

  const unverified = await fx.driver("", false);
  await rejects(bank.credit.createCreditLine({ owner: { case: "driverId", value: unverified.driverId }, currency: "NGN" }), Code.FailedPrecondition, "KYC_NOT_VERIFIED");
  const ineligible = (await bank.credit.assessRisk({ subject: { case: "driverId", value: unverified.driverId } })).assessment!;
  assert.is(ineligible.category, RiskCategory.INELIGIBLE);
  await rejects(bank.credit.createCreditLine({ owner: { case: "driverId", value: randomUUID() }, currency: "NGN" }), Code.NotFound);
  await rejects(bank.credit.createCreditLine({ owner: { case: "driverId", value: d.driverId }, currency: "KES" }), Code.FailedPrecondition, "CREDIT_POLICY_NOT_FOUND");
  await rejects(bank.credit.createCreditLine({ owner: { case: "driverId", value: "nope" }, currency: "NGN" }), Code.InvalidArgument);
  // Policies: versioned; a bank reads only its own.
  const pol = (await bank.credit.getCreditPolicy({ currency: "NGN" })).policy!;
  assert.is(pol.version, 1n);
  await rejects(bank.credit.setCreditPolicy({ currency: "NGN", expectedVersion: 0n, categoryLimits: [] }), Code.Aborted, "VERSION_MISMATCH");
  const v2 = (await bank.credit.setCreditPolicy({ currency: "NGN", expectedVersion: 1n, categoryLimits: [{ category: RiskCategory.LOW, maxLimit: ngn(50_000n) }] })).policy!;
  assert.is(v2.version, 2n);
  await rejects(bank.credit.setCreditPolicy({ currency: "NGN", expectedVersion: 2n, categoryLimits: [{ category: RiskCategory.INELIGIBLE, maxLimit: ngn(5n) }] }), Code.InvalidArgument);
  await rejects(other.credit.getCreditPolicy({ currency: "NGN", bankId: bank.bankId }), Code.NotFound, "CREDIT_POLICY_NOT_FOUND");
});

test("RestoreCredit returns repaid principal to the driver line and its parent, once per repayment", async () => {
  const bank = await fx.bank(10_000n);
  const agency = await fx.verifiedAgency();
  const root = (await bank.credit.createCreditLine({ owner: { case: "agencyId", value: agency.agencyId }, currency: "NGN" })).creditLine!;
  const d = await fx.driver(agency.agencyId);
  const sub = (await bank.credit.createCreditLine({ owner: { case: "driverId", value: d.driverId }, currency: "NGN", parentCreditLineId: root.creditLineId, subLimit: ngn(4_000n) })).creditLine!;
  const credit = creditAsService(sys);
  const h = (await credit.hold({ driverId: d.driverId, transactionId: randomUUID(), amount: ngn(3_000n), stationId: STATION, fuelType: FuelType.DIESEL })).hold!;
  await credit.capture({ holdId: h.holdId, amount: ngn(2_500n) });
  const repaymentId = randomUUID();
  const loanId = randomUUID();
  const r1 = await credit.restoreCredit({ creditLineId: sub.creditLineId, amount: ngn(1_000n), loanId, repaymentId });
  assert.is(r1.creditLine!.used!.amountMinor, 1_500n);
  const r2 = await credit.restoreCredit({ creditLineId: sub.creditLineId, amount: ngn(1_000n), loanId, repaymentId });
  assert.is(r2.journalEntryId, r1.journalEntryId);
  const parent = (await bank.credit.getCreditLine({ creditLineId: root.creditLineId })).creditLine!;
  assert.is(parent.used!.amountMinor, 1_500n);
  assert.is(parent.available!.amountMinor, 8_500n);
  await rejects(credit.restoreCredit({ creditLineId: sub.creditLineId, amount: ngn(1_501n), loanId, repaymentId: randomUUID() }), Code.FailedPrecondition, "AMOUNT_EXCEEDS_USED");
  const avail = await credit.checkAvailability({ driverId: d.driverId, amount: ngn(3_000n), stationId: STATION, fuelType: FuelType.DIESEL, allowPartial: true });
  assert.is(avail.approvableAmount!.amountMinor, 2_500n);
  await assertLedgerClean();
});

test("the background sweeper expires overdue holds by itself", async () => {
  const bank = await fx.bank(3_000n);
  const d = await fx.driver();
  await bank.credit.createCreditLine({ owner: { case: "driverId", value: d.driverId }, currency: "NGN" });
  const credit = creditAsService(sys);
  const h = (await credit.hold({ driverId: d.driverId, transactionId: randomUUID(), amount: ngn(3_000n), stationId: STATION, fuelType: FuelType.DIESEL, ttlSeconds: 60 })).hold!;
  sys.clock.advance(61_000);
  let status = HoldStatus.PENDING;
  for (let i = 0; i < 100 && status === HoldStatus.PENDING; i++) {
    await new Promise((r) => setTimeout(r, 100));
    status = (await credit.getHold({ key: { case: "transactionId", value: h.transactionId } })).hold!.status;
  }
  assert.is(status, HoldStatus.EXPIRED);
  assert.ok((await credit.hold({ driverId: d.driverId, transactionId: randomUUID(), amount: ngn(3_000n), stationId: STATION, fuelType: FuelType.DIESEL })).approved);
  await assertLedgerClean();
});

test.run();
