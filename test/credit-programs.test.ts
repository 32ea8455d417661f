// Credit programs, the third level of every hold (bank program → agency line → driver
// line), against a real system: the program's RPCs and who may call them, lines joining
// a program, concurrent holds of many drivers of many agencies against a nearly exhausted
// program (approvals counted exactly; no level ever exceeded), and captures, voids,
// expiries and repayments moving all three levels, with the ledger check after each.
import { randomUUID } from "node:crypto";
import * as assert from "uvu/assert";
import { Code, ConnectError } from "@connectrpc/connect";
import { FuelType } from "../gen/fuel/common/v1/common_pb.js";
import { CreditProgramStatus, DeclineReason } from "../gen/fuel/credit/v1/credit_line_pb.js";
import { LimitingFactor } from "../gen/fuel/credit/v1/credit_pb.js";
import { reasonOf } from "../platform/errors.js";
import { barrier, creditAsService, creditSuite, Fixtures, ngn } from "./credit-fixtures.js";
import { realPostgres, startTestSystem, type TestSystem } from "./helpers/system.js";

const test = creditSuite("credit programs");
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
  assert.equal(r.differences.map((d) => [d.creditLineId, d.account, d.cached?.amountMinor, d.computed?.amountMinor]), []);
  assert.equal(r.unbalancedEntryIds, []);
  assert.equal(r.inconsistentHoldIds, []);
  assert.ok(r.consistent);
}

type Bank = Awaited<ReturnType<Fixtures["bank"]>>;

/** An agency with a root line of `limit` in `programId` and `drivers` drivers on sub-lines. */
async function agencyIn(bank: Bank, programId: string, limit: bigint, drivers: number) {
  const agency = await fx.verifiedAgency();
  const line = (await bank.credit.createCreditLine({
    owner: { case: "agencyId", value: agency.agencyId }, currency: "NGN", creditProgramId: programId, limitOverride: ngn(limit), overrideReason: "test",
  })).creditLine!;
  const ds = await Promise.all(Array.from({ length: drivers }, () => fx.driver(agency.agencyId)));
  const subs = [];
  for (const d of ds) {
    subs.push((await bank.credit.createCreditLine({ owner: { case: "driverId", value: d.driverId }, currency: "NGN", parentCreditLineId: line.creditLineId })).creditLine!);
  }
  return { line, drivers: ds, subs };
}

async function loneIn(bank: Bank, programId: string, limit: bigint) {
  const d = await fx.driver();
  const line = (await bank.credit.createCreditLine({
    owner: { case: "driverId", value: d.driverId }, currency: "NGN", creditProgramId: programId, limitOverride: ngn(limit), overrideReason: "test",
  })).creditLine!;
  return { driver: d, line };
}

const hold = (driverId: string, amount: bigint, partial = false) =>
  creditAsService(sys).hold({
    driverId, transactionId: randomUUID(), amount: ngn(amount), stationId: STATION, fuelType: FuelType.DIESEL,
    allowPartial: partial, minAmount: partial ? ngn(1n) : undefined,
  });

test.before(async () => {
  process.env.CREDIT_EXPIRY_SWEEP_MS = "3600000"; // this suite drives expiry itself
  sys = await startTestSystem();
  fx = await Fixtures.create(sys);
});
test.after(async () => await sys?.stop());

test("a bank creates, reads, lists and changes its programs; another bank sees none of them", async () => {
  const bank = await fx.bank(1_000_000n);
  const other = await fx.bank(1_000_000n);
  const created = (await bank.credit.createCreditProgram({ name: "Lagos transport agencies 2027", cap: ngn(500_000_000n) })).creditProgram!;
  assert.is(created.bankId, bank.bankId);
  assert.is(created.cap!.amountMinor, 500_000_000n);
  assert.is(created.available!.amountMinor, 500_000_000n);
  assert.is(created.status, CreditProgramStatus.ACTIVE);
  const got = (await bank.credit.getCreditProgram({ creditProgramId: created.creditProgramId })).creditProgram!;
  assert.equal(got, created);
  const listed = await bank.credit.listCreditPrograms({});
  assert.equal(listed.creditPrograms.map((p) => p.creditProgramId), [created.creditProgramId]);

  await rejects(other.credit.getCreditProgram({ creditProgramId: created.creditProgramId }), Code.NotFound, "CREDIT_PROGRAM_NOT_FOUND");
  assert.equal((await other.credit.listCreditPrograms({ bankId: bank.bankId })).creditPrograms, []);
  await rejects(other.credit.updateCreditProgram({ creditProgramId: created.creditProgramId, expectedVersion: created.version, cap: ngn(1n), reason: "x" }), Code.NotFound);
  // Another bank's program is as missing as no program at all for a line.
  const d = await fx.driver();
  await rejects(other.credit.createCreditLine({ owner: { case: "driverId", value: d.driverId }, currency: "NGN", creditProgramId: created.creditProgramId }), Code.NotFound, "CREDIT_PROGRAM_NOT_FOUND");

  // Bad input names the field.
  await rejects(bank.credit.createCreditProgram({ name: "", cap: ngn(1n) }), Code.InvalidArgument);
  await rejects(bank.credit.createCreditProgram({ name: "x", cap: ngn(0n) }), Code.InvalidArgument);
  await rejects(bank.credit.updateCreditProgram({ creditProgramId: created.creditProgramId, expectedVersion: created.version, reason: "nothing" }), Code.InvalidArgument);
  await rejects(bank.credit.updateCreditProgram({ creditProgramId: created.creditProgramId, expectedVersion: created.version, cap: { amountMinor: 5n, currency: "USD" }, reason: "x" }), Code.InvalidArgument);

  const raised = (await bank.credit.updateCreditProgram({ creditProgramId: created.creditProgramId, expectedVersion: created.version, cap: ngn(600_000_000n), reason: "board approval" })).creditProgram!;
  assert.is(raised.cap!.amountMinor, 600_000_000n);
  assert.ok(raised.version > created.version);
  await rejects(bank.credit.updateCreditProgram({ creditProgramId: created.creditProgramId, expectedVersion: created.version, cap: ngn(1n), reason: "stale" }), Code.Aborted, "VERSION_MISMATCH");
  await assertLedgerClean();
});

test("lines join a program at opening: root lines by name, sub-lines through their parent", async () => {
  const bank = await fx.bank(1_000_000n);
  const program = (await bank.credit.createCreditProgram({ name: "P", cap: ngn(100_000n) })).creditProgram!;
  const { line, subs } = await agencyIn(bank, program.creditProgramId, 50_000n, 1);
  assert.is(line.creditProgramId, program.creditProgramId);
  assert.is(subs[0]!.creditProgramId, program.creditProgramId, "a sub-line is in its parent's program");
  const agencyDriver = await fx.driver();
  await rejects(bank.credit.createCreditLine({ owner: { case: "driverId", value: agencyDriver.driverId }, currency: "NGN", parentCreditLineId: line.creditLineId, creditProgramId: program.creditProgramId }), Code.InvalidArgument);
  const usd = (await bank.credit.createCreditProgram({ name: "USD", cap: { amountMinor: 1000n, currency: "USD" } })).creditProgram!;
  const lone = await fx.driver();
  await rejects(bank.credit.createCreditLine({ owner: { case: "driverId", value: lone.driverId }, currency: "NGN", creditProgramId: usd.creditProgramId }), Code.InvalidArgument);
  // A program is not a credit line: its id reads as no line.
  await rejects(bank.credit.getCreditLine({ creditLineId: program.creditProgramId }), Code.NotFound);
  assert.ok(!(await bank.credit.listCreditLines({ pageSize: 200 })).creditLines.some((l) => l.creditLineId === program.creditProgramId));
});

test("many drivers of many agencies against a nearly exhausted program: no level is ever exceeded", async () => {
  const bank = await fx.bank(1_000_000n);
  const CAP = 10_000n;
  const AGENCY_LIMIT = 4_000n;
  const program = (await bank.credit.createCreditProgram({ name: "tight", cap: ngn(CAP) })).creditProgram!;
  const agencies = await Promise.all([0, 1, 2].map(() => agencyIn(bank, program.creditProgramId, AGENCY_LIMIT, 3)));
  const lones = await Promise.all([0, 1].map(() => loneIn(bank, program.creditProgramId, 3_000n)));
  const drivers = [...agencies.flatMap((a) => a.drivers.map((d) => d.driverId)), ...lones.map((l) => l.driver.driverId)];
  const per = realPostgres() ? 6 : 3;

  // Whole holds of 700: the program binds first (14 × 700 = 9 800; the agencies and lone
  // drivers below it could take 15 + 8), so exactly 14 are approved.
  let wait = barrier(drivers.length * per);
  const whole = await Promise.all(drivers.flatMap((driverId) => Array.from({ length: per }, async () => {
    await wait();
    return await hold(driverId, 700n);
  })));
  const approved = whole.filter((r) => r.approved);
  assert.is(approved.length, 14, `approved ${approved.length} whole holds`);
  for (const r of whole) if (!r.approved) assert.ok([DeclineReason.PROGRAM_CAP_EXCEEDED, DeclineReason.PARENT_INSUFFICIENT_CREDIT, DeclineReason.INSUFFICIENT_CREDIT].includes(r.declineReason));
  assert.ok(whole.some((r) => r.declineReason === DeclineReason.PROGRAM_CAP_EXCEEDED), "a decline names the program");
  let p = (await bank.credit.getCreditProgram({ creditProgramId: program.creditProgramId })).creditProgram!;
  assert.is(p.held!.amountMinor, 9_800n);

  // Partial holds take what every level allows, to the last unit of the program.
  wait = barrier(drivers.length * per);
  const partial = await Promise.all(drivers.flatMap((driverId) => Array.from({ length: per }, async () => {
    await wait();
    return await hold(driverId, 700n, true);
  })));
  const got = partial.filter((r) => r.approved).reduce((a, r) => a + r.hold!.amount!.amountMinor, 0n);
  assert.is(got, CAP - 9_800n, "the program is used to the last unit, no further");
  p = (await bank.credit.getCreditProgram({ creditProgramId: program.creditProgramId })).creditProgram!;
  assert.is(p.held!.amountMinor, CAP);
  assert.is(p.available!.amountMinor, 0n);
  for (const a of agencies) {
    const l = (await bank.credit.getCreditLine({ creditLineId: a.line.creditLineId })).creditLine!;
    assert.ok(l.held!.amountMinor <= AGENCY_LIMIT, `an agency line went over: ${l.held!.amountMinor}`);
  }
  const spend = await fx.creditAdmin().getAvailableCredit({ driverId: drivers[0]!, priceMinorPerLitre: 0n });
  assert.is(spend.spendable!.amountMinor, 0n);
  assert.is(spend.limitingFactor, LimitingFactor.PROGRAM);
  await assertLedgerClean();
});

test("capture, void, expiry and repayment move all three levels; a closed program declines", async () => {
  const bank = await fx.bank(1_000_000n);
  const program = (await bank.credit.createCreditProgram({ name: "moves", cap: ngn(100_000n) })).creditProgram!;
  const { line, drivers, subs } = await agencyIn(bank, program.creditProgramId, 50_000n, 1);
  const driverId = drivers[0]!.driverId;
  const credit = creditAsService(sys);
  const levels = async () => {
    const prog = (await bank.credit.getCreditProgram({ creditProgramId: program.creditProgramId })).creditProgram!;
    const agency = (await bank.credit.getCreditLine({ creditLineId: line.creditLineId })).creditLine!;
    const sub = (await bank.credit.getCreditLine({ creditLineId: subs[0]!.creditLineId })).creditLine!;
    return [prog, agency, sub].map((x) => [x.held!.amountMinor, x.used!.amountMinor]);
  };

  const a = await hold(driverId, 1_000n);
  const b = await hold(driverId, 2_000n);
  assert.equal(await levels(), [[3_000n, 0n], [3_000n, 0n], [3_000n, 0n]]);
  await credit.capture({ holdId: a.hold!.holdId, amount: ngn(600n) });
  assert.equal(await levels(), [[2_000n, 600n], [2_000n, 600n], [2_000n, 600n]]);
  await credit.void({ holdId: b.hold!.holdId, reason: "driver left" });
  assert.equal(await levels(), [[0n, 600n], [0n, 600n], [0n, 600n]]);
  const c = await credit.hold({ driverId, transactionId: randomUUID(), amount: ngn(500n), stationId: STATION, fuelType: FuelType.DIESEL, ttlSeconds: 60 });
  assert.ok(c.approved);
  sys.clock.advance(61_000);
  const expired = await credit.expireHolds({ maxHolds: 5000 });
  assert.ok(expired.expiredHolds.some((h) => h.holdId === c.hold!.holdId));
  assert.equal(await levels(), [[0n, 600n], [0n, 600n], [0n, 600n]]);
  await credit.restoreCredit({ creditLineId: subs[0]!.creditLineId, amount: ngn(600n), loanId: randomUUID(), repaymentId: randomUUID() });
  assert.equal(await levels(), [[0n, 0n], [0n, 0n], [0n, 0n]]);

  const cur = (await bank.credit.getCreditProgram({ creditProgramId: program.creditProgramId })).creditProgram!;
  const closed = (await bank.credit.updateCreditProgram({ creditProgramId: program.creditProgramId, expectedVersion: cur.version, close: true, reason: "program ended" })).creditProgram!;
  assert.is(closed.status, CreditProgramStatus.CLOSED);
  const declined = await hold(driverId, 100n);
  assert.is(declined.declineReason, DeclineReason.PROGRAM_INACTIVE);
  await rejects(bank.credit.updateCreditProgram({ creditProgramId: program.creditProgramId, expectedVersion: closed.version, cap: ngn(1n), reason: "reopen" }), Code.FailedPrecondition, "PROGRAM_CLOSED");
  const late = await fx.driver();
  await rejects(bank.credit.createCreditLine({ owner: { case: "driverId", value: late.driverId }, currency: "NGN", creditProgramId: program.creditProgramId }), Code.FailedPrecondition, "PROGRAM_CLOSED");
  await assertLedgerClean();
});

test("a cap lowered below what is out declines new holds until repayments bring it under", async () => {
  const bank = await fx.bank(1_000_000n);
  const program = (await bank.credit.createCreditProgram({ name: "lowered", cap: ngn(10_000n) })).creditProgram!;
  const { driver } = await loneIn(bank, program.creditProgramId, 50_000n);
  const first = await hold(driver.driverId, 5_000n);
  assert.ok(first.approved);
  const cur = (await bank.credit.getCreditProgram({ creditProgramId: program.creditProgramId })).creditProgram!;
  const lowered = (await bank.credit.updateCreditProgram({ creditProgramId: program.creditProgramId, expectedVersion: cur.version, cap: ngn(4_000n), reason: "risk" })).creditProgram!;
  assert.is(lowered.available!.amountMinor, -1_000n);
  assert.is((await hold(driver.driverId, 1n)).declineReason, DeclineReason.PROGRAM_CAP_EXCEEDED);
  await creditAsService(sys).void({ holdId: first.hold!.holdId, reason: "cancel" });
  assert.ok((await hold(driver.driverId, 4_000n)).approved);
  await assertLedgerClean();
});

test.run();
