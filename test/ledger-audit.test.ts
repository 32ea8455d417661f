// VerifyLedger finds what it is there to find. Three driver lines carry real movements
// (a capture, a full capture, a pending hold); then one posting and one line's cached
// counter are corrupted by SQL, as a bug or a hand edit would, and a SYSTEM_ADMIN's
// VerifyLedger through the gateway must report exactly those and nothing else: the
// posting's entry as unbalanced and its line's account and identity off by its amount,
// the line's USED and AVAILABLE off by the edit, the untouched line and the pending hold
// clean. Repaired, the ledger is consistent again.
import { randomUUID } from "node:crypto";
import pg from "pg";
import * as assert from "uvu/assert";
import { FuelType } from "../gen/fuel/common/v1/common_pb.js";
import { CreditService } from "../gen/fuel/credit/v1/credit_pb.js";
import { LedgerAccount, type LineDifference } from "../gen/fuel/credit/v1/ledger_pb.js";
import { creditAsService, creditSuite, Fixtures, ngn } from "./credit-fixtures.js";
import { connectJson } from "./helpers/clients.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";

const test = creditSuite("ledger audit");
let sys: TestSystem;
let fx: Fixtures;
let db: pg.Client;

test.before(async () => {
  sys = await startTestSystem({ services: ["auth", "kyc", "credit", "loan", "notification"] });
  fx = await Fixtures.create(sys);
  db = new pg.Client({ connectionString: sys.databaseUrl });
  await db.connect();
});
test.after(async () => {
  await db?.end();
  await sys?.stop();
});

/** A difference as one comparable line: line/ACCOUNT cached→computed. */
const shown = (d: LineDifference) => `${d.creditLineId}/${LedgerAccount[d.account]} ${d.cached!.amountMinor}→${d.computed!.amountMinor}`;

test("VerifyLedger reports exactly a corrupted posting and a corrupted line counter, then consistent once repaired", async () => {
  const admin = connectJson(CreditService, sys.gatewayUrl, fx.adminToken);
  const bank = await fx.bank(50_000n);
  const [a, b, c] = await Promise.all([fx.driver(), fx.driver(), fx.driver()]);
  const lineOf = async (driverId: string) =>
    (await bank.credit.createCreditLine({ owner: { case: "driverId", value: driverId }, currency: "NGN" })).creditLine!.creditLineId;
  const [lineA, lineB, lineC] = [await lineOf(a!.driverId), await lineOf(b!.driverId), await lineOf(c!.driverId)];

  const credit = creditAsService(sys);
  const hold = async (driverId: string, amount: bigint) =>
    (await credit.hold({ driverId, transactionId: randomUUID(), amount: ngn(amount), stationId: randomUUID(), fuelType: FuelType.DIESEL })).hold!;
  await credit.capture({ holdId: (await hold(a!.driverId, 10_000n)).holdId, amount: ngn(7_000n) });
  await credit.capture({ holdId: (await hold(b!.driverId, 4_000n)).holdId, amount: ngn(4_000n) });
  const pending = await hold(c!.driverId, 1_000n);

  const clean = await admin.verifyLedger({});
  assert.ok(clean.consistent, "the real movements are consistent");
  assert.is(clean.linesChecked, 3n);
  assert.ok(clean.entriesChecked >= 8n, String(clean.entriesChecked));

  // One posting: the capture's +7 000 to line A's USED becomes +7 007.
  const posting = (
    await db.query<{ entry_id: string; seq: number }>(
      `SELECT entry_id, seq FROM credit.postings WHERE line_id = $1 AND account = $2 AND amount = 7000`,
      [lineA, LedgerAccount.USED],
    )
  ).rows;
  assert.is(posting.length, 1, "one capture posting to USED");
  const { entry_id: entryId, seq } = posting[0]!;
  await db.query(`UPDATE credit.postings SET amount = amount + 7 WHERE entry_id = $1 AND seq = $2`, [entryId, seq]);
  // One cached counter: line B's used says 4 005 where its postings say 4 000.
  await db.query(`UPDATE credit.lines SET used = used + 5 WHERE line_id = $1`, [lineB]);

  const broken = await admin.verifyLedger({});
  assert.not.ok(broken.consistent);
  assert.equal(broken.differences.map(shown).sort(), [
    `${lineA}/USED 7000→7007`,
    `${lineA}/UNSPECIFIED 0→7`, // the postings of a line no longer sum to zero
    `${lineB}/AVAILABLE 45995→46000`, // limit − held − used from the counters, against the postings
    `${lineB}/USED 4005→4000`,
  ].sort());
  assert.equal(broken.unbalancedEntryIds, [entryId]);
  assert.equal(broken.inconsistentHoldIds, [], `the pending hold ${pending.holdId} is not involved`);
  // Narrowed to the untouched line, or to the lines of a bank with none, nothing is found.
  assert.ok((await admin.verifyLedger({ creditLineIds: [lineC] })).consistent);
  const other = await admin.verifyLedger({ bankId: randomUUID() });
  assert.ok(other.consistent && other.linesChecked === 0n);
  const mine = await admin.verifyLedger({ bankId: bank.bankId });
  assert.equal(mine.differences.map(shown).sort(), broken.differences.map(shown).sort());

  await db.query(`UPDATE credit.postings SET amount = amount - 7 WHERE entry_id = $1 AND seq = $2`, [entryId, seq]);
  await db.query(`UPDATE credit.lines SET used = used - 5 WHERE line_id = $1`, [lineB]);
  const repaired = await admin.verifyLedger({});
  assert.ok(repaired.consistent);
  assert.equal([repaired.differences.length, repaired.unbalancedEntryIds.length, repaired.inconsistentHoldIds.length], [0, 0, 0]);
});

test.run();
