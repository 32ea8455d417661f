// Unit tests of the hold batcher (hold-batch.ts) and its join rule (hold-batch-rule.ts):
// which decided holds may share one statement, that nothing waits on an idle line, that a
// batch forms behind a statement in flight within its limits, and that a batch that
// cannot be written sends each hold to write alone. The write is a function here; the
// same batcher against PostgreSQL is in credit-lines.test.ts.
import * as assert from "uvu/assert";
import fc from "fast-check";
import { suite } from "uvu";
import { COUNTERS_ONLY, joinFits } from "../services/credit/hold-batch-rule.js";
import { HoldBatcher, type BatchOutcome, type HoldDraft } from "../services/credit/hold-batch.js";
import type { LineFit } from "../services/credit/ledger-store.js";
import { RecentHolds } from "../services/credit/recent-holds.js";

const test = suite("credit hold batching rules");

const PARENT = "00000000-0000-0000-0000-00000000000a";
const fit = (needs: bigint, extra: Partial<LineFit> = {}): LineFit => ({ version: 7n, status: "ACTIVE", controls: null, dailyControls: false, needs, ...extra });
const draft = (child: string, needs: bigint, parent: Partial<LineFit> = {}): HoldDraft => ({
  entry: { entryId: child, kind: 1, currency: "NGN", description: "", actorId: "t", postings: [] },
  row: { hold_id: child } as HoldDraft["row"],
  fits: new Map([[PARENT, fit(needs, parent)], [child, fit(needs)]]),
  key: { table: "k", scope: "s", key: child, requestHash: "h", response: new Uint8Array() },
});

test("a line several holds decided on must have their needs summed, on its counters alone", () => {
  const a = new Map([[PARENT, fit(300n, { version: 7n })], ["c1", fit(300n)]]);
  const b = new Map([[PARENT, fit(500n, { version: 8n })], ["c2", fit(500n)]]);
  const j = joinFits(a, b)!;
  assert.equal(j.get(PARENT), { version: COUNTERS_ONLY, status: "ACTIVE", controls: null, dailyControls: false, needs: 800n });
  // Lines only one of them decided on keep that hold's own fit, version included.
  assert.equal(j.get("c1"), fit(300n));
  assert.equal(j.get("c2"), fit(500n));
});

test("holds read with another status or controls, or on a line with daily limits, do not join", () => {
  const base = new Map([[PARENT, fit(1n)]]);
  assert.is(joinFits(base, new Map([[PARENT, fit(1n, { status: "FROZEN" })]])), null);
  assert.is(joinFits(base, new Map([[PARENT, fit(1n, { controls: Buffer.from([1]) })]])), null);
  assert.is(joinFits(base, new Map([[PARENT, fit(1n, { dailyControls: true })]])), null);
  assert.ok(joinFits(new Map([[PARENT, fit(1n, { controls: Buffer.from([1, 2]) })]]), new Map([[PARENT, fit(1n, { controls: Buffer.from([1, 2]) })]])));
});

test("property: a joined fit needs exactly what its members need, line by line", () => {
  fc.assert(fc.property(fc.array(fc.tuple(fc.constantFrom("p", "c1", "c2", "c3"), fc.bigInt({ min: 1n, max: 10n ** 12n })), { minLength: 1, maxLength: 30 }), (members) => {
    let acc = new Map<string, LineFit>();
    const want = new Map<string, bigint>();
    for (const [line, needs] of members) {
      acc = joinFits(acc, new Map([[line, fit(needs)]]))!;
      want.set(line, (want.get(line) ?? 0n) + needs);
    }
    for (const [line, needs] of want) assert.is(acc.get(line)!.needs, needs);
  }));
});

/** A write that finishes when the test says so, recording each batch. */
function gatedWrite(result: (drafts: HoldDraft[]) => boolean | Error = () => true) {
  const batches: string[][] = [];
  const gates: (() => void)[] = [];
  const write = async (drafts: HoldDraft[], fits: Map<string, LineFit>) => {
    batches.push(drafts.map((d) => d.entry.entryId));
    assert.ok(drafts.every((d) => [...d.fits.keys()].every((id) => fits.has(id))), "the joined fits cover every line");
    await new Promise<void>((r) => gates.push(r));
    const out = result(drafts);
    if (out instanceof Error) throw out;
    return out;
  };
  const release = async () => {
    while (gates.length === 0) await new Promise((r) => setImmediate(r));
    gates.shift()!();
  };
  return { write, batches, release };
}

test("an idle line writes at once; holds behind a statement in flight go together, up to maxBatch", async () => {
  const w = gatedWrite();
  const b = new HoldBatcher(w.write, { maxBatch: 3, maxWaiting: 100 });
  const first = b.submit(PARENT, draft("c0", 1n));
  assert.equal(w.batches, [["c0"]], "the first hold did not wait for anyone");
  const rest = ["c1", "c2", "c3", "c4"].map((c) => b.submit(PARENT, draft(c, 1n)));
  assert.is(b.waiting(), 4);
  await w.release();
  assert.is(await first, "written");
  await w.release();
  await w.release();
  const outcomes = await Promise.all(rest);
  assert.equal(outcomes, ["written", "written", "written", "written"]);
  assert.equal(w.batches, [["c0"], ["c1", "c2", "c3"], ["c4"]]);
  assert.is(b.waiting(), 0);
  // Another line never waits on this one.
  const other = gatedWrite();
  const b2 = new HoldBatcher(other.write, { maxBatch: 3, maxWaiting: 100 });
  const x = b2.submit("line-x", draft("c5", 1n));
  const y = b2.submit("line-y", draft("c6", 1n));
  assert.equal(other.batches, [["c5"], ["c6"]]);
  await other.release();
  await other.release();
  assert.equal(await Promise.all([x, y]), ["written", "written"]);
});

test("a hold that cannot join waits for the next batch; a full lane sends the newcomer to write alone", async () => {
  const w = gatedWrite();
  const b = new HoldBatcher(w.write, { maxBatch: 10, maxWaiting: 3 });
  const first = b.submit(PARENT, draft("c0", 1n));
  const ok1 = b.submit(PARENT, draft("c1", 1n));
  const frozen = b.submit(PARENT, draft("c2", 1n, { status: "FROZEN" }));
  const ok2 = b.submit(PARENT, draft("c3", 1n));
  assert.is(await b.submit(PARENT, draft("c4", 1n)), "alone", "the lane was full");
  for (let i = 0; i < 3; i++) await w.release();
  assert.equal(await Promise.all([first, ok1, frozen, ok2]), ["written", "written", "written", "written"]);
  assert.equal(w.batches, [["c0"], ["c1", "c3"], ["c2"]]);
});

test("a batch that does not fit, or fails, sends every member to write alone; a single hold gets its own answer", async () => {
  const w = gatedWrite((drafts) => (drafts.length > 1 ? false : drafts[0]!.entry.entryId === "c0"));
  const b = new HoldBatcher(w.write, { maxBatch: 10, maxWaiting: 10 });
  const first = b.submit(PARENT, draft("c0", 1n));
  const pair = [b.submit(PARENT, draft("c1", 1n)), b.submit(PARENT, draft("c2", 1n))];
  await w.release();
  await w.release();
  assert.is(await first, "written");
  assert.equal(await Promise.all(pair), ["alone", "alone"] as BatchOutcome[]);

  const unfit = gatedWrite(() => false);
  const b2 = new HoldBatcher(unfit.write, { maxBatch: 10, maxWaiting: 10 });
  const lone = b2.submit(PARENT, draft("c3", 1n));
  await unfit.release();
  assert.is(await lone, "unfit", "alone in its batch, the write's answer is final");

  const failing = gatedWrite((drafts) => new Error(`duplicate key (${drafts.length})`));
  const b3 = new HoldBatcher(failing.write, { maxBatch: 10, maxWaiting: 10 });
  const solo = b3.submit(PARENT, draft("c4", 1n)).then(() => null, (err: unknown) => err);
  const both = [b3.submit(PARENT, draft("c5", 1n)), b3.submit(PARENT, draft("c6", 1n))];
  await failing.release();
  await failing.release();
  assert.match(String(await solo), "duplicate key (1)", "a single hold's own error reaches it");
  assert.equal(await Promise.all(both), ["alone", "alone"] as BatchOutcome[]);
});

test("recent holds: bounded, oldest out first, each taken once", () => {
  const r = new RecentHolds(2);
  const row = (id: string) => ({ hold_id: id }) as HoldDraft["row"];
  r.remember(row("a"));
  r.remember(row("b"));
  r.remember(row("c"));
  assert.is(r.size, 2);
  assert.is(r.take("a"), undefined, "the oldest went first");
  assert.is(r.take("c")?.hold_id, "c");
  assert.is(r.take("c"), undefined, "a resolution tries a remembered hold once");
});

test("limits are checked when the batcher is made", () => {
  assert.throws(() => new HoldBatcher(async () => true, { maxBatch: 0, maxWaiting: 1 }));
});

test.run();
