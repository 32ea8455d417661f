// Model-based test (fast-check): random sequences of holds (full and partial), captures,
// voids, expiries and repayments on an agency line with two driver sub-lines and on a
// driver's own root line, each checked against a model of the counters. After every run:
// for every line limit = available + held + used, the postings sum to zero, and
// VerifyLedger finds no difference.
import { randomUUID } from "node:crypto";
import * as assert from "uvu/assert";
import fc from "fast-check";
import pg from "pg";
import { FuelType } from "../gen/fuel/common/v1/common_pb.js";
import type { CreditService } from "../gen/fuel/credit/v1/credit_pb.js";
import type { Client } from "@connectrpc/connect";
import { creditAsService, creditSuite, Fixtures, ngn } from "./credit-fixtures.js";
import { realPostgres, startTestSystem, type TestSystem } from "./helpers/system.js";

const test = creditSuite("credit model");
let sys: TestSystem;
let fx: Fixtures;
const STATION = randomUUID();

interface LineModel {
  id: string;
  limit: bigint;
  held: bigint;
  used: bigint;
  parent: LineModel | null;
}
interface Model {
  lines: LineModel[]; // [agency, sub1 (sub-limit), sub2 (mirrors parent), root driver]
  drivers: { driverId: string; line: LineModel }[];
  pending: { holdId: string; amount: bigint; line: LineModel }[];
}
interface Real {
  credit: Client<typeof CreditService>;
}

const avail = (l: LineModel) => l.limit - l.held - l.used;
function move(l: LineModel, held: bigint, used: bigint) {
  for (let x: LineModel | null = l; x; x = x.parent) {
    x.held += held;
    x.used += used;
  }
}

class HoldCmd implements fc.AsyncCommand<Model, Real> {
  constructor(readonly driver: number, readonly amount: bigint, readonly partial: boolean) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const d = m.drivers[this.driver]!;
    const room = d.line.parent ? (avail(d.line) < avail(d.line.parent) ? avail(d.line) : avail(d.line.parent)) : avail(d.line);
    const expected = this.amount <= room ? this.amount : this.partial && room >= 1n ? room : 0n;
    const res = await r.credit.hold({ driverId: d.driverId, transactionId: randomUUID(), amount: ngn(this.amount), allowPartial: this.partial, stationId: STATION, fuelType: FuelType.PETROL, ttlSeconds: 60 });
    assert.is(res.approved, expected > 0n, `hold ${this.amount} with room ${room}`);
    if (!res.approved) return;
    assert.is(res.hold!.amount!.amountMinor, expected);
    move(d.line, expected, 0n);
    m.pending.push({ holdId: res.hold!.holdId, amount: expected, line: d.line });
  }
  toString = () => `hold(${this.driver}, ${this.amount}, ${this.partial})`;
}

class CaptureCmd implements fc.AsyncCommand<Model, Real> {
  constructor(readonly pick: number, readonly percent: number) {}
  check = (m: Readonly<Model>) => m.pending.length > 0;
  async run(m: Model, r: Real) {
    const [h] = m.pending.splice(this.pick % m.pending.length, 1);
    const amount = (h!.amount * BigInt(this.percent)) / 100n;
    const res = await r.credit.capture({ holdId: h!.holdId, amount: ngn(amount) });
    assert.is(res.hold!.releasedAmount!.amountMinor, h!.amount - amount);
    move(h!.line, -h!.amount, amount);
  }
  toString = () => `capture(${this.pick}, ${this.percent}%)`;
}

class VoidCmd implements fc.AsyncCommand<Model, Real> {
  constructor(readonly pick: number) {}
  check = (m: Readonly<Model>) => m.pending.length > 0;
  async run(m: Model, r: Real) {
    const [h] = m.pending.splice(this.pick % m.pending.length, 1);
    await r.credit.void({ holdId: h!.holdId, reason: "model void" });
    move(h!.line, -h!.amount, 0n);
  }
  toString = () => `void(${this.pick})`;
}

class ExpireCmd implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(m: Model, r: Real) {
    sys.clock.advance(61_000);
    const res = await r.credit.expireHolds({ maxHolds: 5000 });
    assert.is(res.expiredHolds.length, m.pending.length);
    for (const h of m.pending) move(h.line, -h.amount, 0n);
    m.pending = [];
  }
  toString = () => "expire()";
}

class RestoreCmd implements fc.AsyncCommand<Model, Real> {
  constructor(readonly driver: number, readonly percent: number) {}
  check = (m: Readonly<Model>) => m.drivers[this.driver]!.line.used > 0n;
  async run(m: Model, r: Real) {
    const line = m.drivers[this.driver]!.line;
    const amount = (line.used * BigInt(this.percent)) / 100n || 1n;
    await r.credit.restoreCredit({ creditLineId: line.id, amount: ngn(amount), loanId: randomUUID(), repaymentId: randomUUID() });
    move(line, 0n, -amount);
  }
  toString = () => `restore(${this.driver}, ${this.percent}%)`;
}

const commands = [
  fc.tuple(fc.integer({ min: 0, max: 2 }), fc.bigInt({ min: 1n, max: 4_000n }), fc.boolean()).map(([d, a, p]) => new HoldCmd(d, a, p)),
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 100 })).map(([i, p]) => new CaptureCmd(i, p)),
  fc.nat().map((i) => new VoidCmd(i)),
  fc.constant(new ExpireCmd()),
  fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 100 })).map(([d, p]) => new RestoreCmd(d, p)),
];

test.before(async () => {
  process.env.CREDIT_EXPIRY_SWEEP_MS = "3600000"; // expiry is one of the model's commands
  sys = await startTestSystem();
  fx = await Fixtures.create(sys);
});
test.after(async () => await sys?.stop());

test("random workload: counters match the model; limit = available + held + used; postings sum to zero", async () => {
  const bank = await fx.bank(10_000n);
  const agency = await fx.verifiedAgency();
  const drivers = [await fx.driver(agency.agencyId), await fx.driver(agency.agencyId), await fx.driver()];
  const credit = creditAsService(sys);
  const root = (await bank.credit.createCreditLine({ owner: { case: "agencyId", value: agency.agencyId }, currency: "NGN" })).creditLine!;
  const s1 = (await bank.credit.createCreditLine({ owner: { case: "driverId", value: drivers[0]!.driverId }, currency: "NGN", parentCreditLineId: root.creditLineId, subLimit: ngn(6_000n) })).creditLine!;
  const s2 = (await bank.credit.createCreditLine({ owner: { case: "driverId", value: drivers[1]!.driverId }, currency: "NGN", parentCreditLineId: root.creditLineId })).creditLine!;
  const own = (await bank.credit.createCreditLine({ owner: { case: "driverId", value: drivers[2]!.driverId }, currency: "NGN", limitOverride: ngn(7_000n), overrideReason: "model" })).creditLine!;

  let runs = 0;
  let executed = 0;
  await fc.assert(
    fc.asyncProperty(fc.commands(commands, { maxCommands: realPostgres() ? 30 : 15 }), async (cmds) => {
      runs++;
      // Start each run from the real state: settle what the last run left pending.
      sys.clock.advance(61_000);
      await credit.expireHolds({ maxHolds: 5000 });
      const read = async (id: string) => (await bank.credit.getCreditLine({ creditLineId: id })).creditLine!;
      const snapshot = async (id: string, parent: LineModel | null): Promise<LineModel> => {
        const l = await read(id);
        return { id, limit: l.limit!.amountMinor, held: l.held!.amountMinor, used: l.used!.amountMinor, parent };
      };
      const a = await snapshot(root.creditLineId, null);
      const lines = [a, await snapshot(s1.creditLineId, a), await snapshot(s2.creditLineId, a), await snapshot(own.creditLineId, null)];
      const model: Model = { lines, drivers: [{ driverId: drivers[0]!.driverId, line: lines[1]! }, { driverId: drivers[1]!.driverId, line: lines[2]! }, { driverId: drivers[2]!.driverId, line: lines[3]! }], pending: [] };
      await fc.asyncModelRun(() => ({ model, real: { credit } }), cmds);
      executed += [...cmds].length;
      for (const m of model.lines) {
        const l = await read(m.id);
        assert.is(l.held!.amountMinor, m.held, `held of ${m.id}`);
        assert.is(l.used!.amountMinor, m.used, `used of ${m.id}`);
        assert.is(l.limit!.amountMinor, l.available!.amountMinor + l.held!.amountMinor + l.used!.amountMinor);
      }
    }),
    { numRuns: realPostgres() ? 12 : 5 },
  );
  assert.ok(runs > 0 && executed > runs, `${executed} commands in ${runs} runs`);
  console.log(`  model: ${executed} commands in ${runs} runs`);

  // Straight from the tables: every entry balances; every line's accounts equal its counters.
  const db = new pg.Client({ connectionString: sys.databaseUrl });
  await db.connect();
  try {
    const bad = await db.query(`SELECT entry_id FROM credit.postings GROUP BY entry_id HAVING sum(amount) <> 0`);
    assert.is(bad.rowCount, 0);
    const total = await db.query(`SELECT coalesce(sum(amount), 0)::text AS s, count(*)::int AS n FROM credit.postings`);
    assert.is(total.rows[0].s, "0");
    assert.ok(total.rows[0].n > 0);
    const lines = await db.query(`SELECT l.line_id, l.limit_minor::text, l.held::text, l.used::text,
        coalesce(sum(p.amount) FILTER (WHERE p.account = 1), 0)::text AS lim,
        coalesce(sum(p.amount) FILTER (WHERE p.account = 2), 0)::text AS av,
        coalesce(sum(p.amount) FILTER (WHERE p.account = 3), 0)::text AS he,
        coalesce(sum(p.amount) FILTER (WHERE p.account = 4), 0)::text AS us
      FROM credit.lines l LEFT JOIN credit.postings p ON p.line_id = l.line_id GROUP BY l.line_id`);
    for (const r of lines.rows) {
      assert.is(BigInt(r.lim), -BigInt(r.limit_minor));
      assert.is(BigInt(r.he), BigInt(r.held));
      assert.is(BigInt(r.us), BigInt(r.used));
      assert.is(BigInt(r.av), BigInt(r.limit_minor) - BigInt(r.held) - BigInt(r.used));
    }
  } finally {
    await db.end();
  }
  const report = await fx.creditAdmin().verifyLedger({});
  assert.ok(report.consistent, JSON.stringify(report.differences.map((d) => `${d.creditLineId}/${d.account}`)));
  assert.ok(report.entriesChecked > 0n);
});

test.run();
