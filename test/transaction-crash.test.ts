// Crash safety of TransactionService: the service runs in its own process (bin/mesh.ts with
// SERVICES=transaction, the platform's default deadlines) against the same database, Redis
// and mesh as the rest of the system, and is killed with SIGKILL — at every named point
// between two steps of Authorize, Settle and Void (TRANSACTION_CRASH_AT), and at a random
// moment under load. After a restart, the POS terminal's retry with the same idempotency
// key answers within 2 s of the service being ready, and sales nobody retries are finished
// by the recovery sweeper within the documented bound; each sale ends with exactly one
// hold, one capture, one loan, and the ledger check is clean.
import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import pg from "pg";
import * as assert from "uvu/assert";
import { TransactionService, TransactionStatus, type FuelTransaction } from "../gen/fuel/transaction/v1/transaction_pb.js";
import { CRASH_POINTS, settingsFromEnv, type CrashPoint } from "../services/transaction/settings.js";
import { loadConfig } from "../platform/config.js";
import { creditSuite, Fixtures } from "./credit-fixtures.js";
import {
  asTerminal, authorizeRequest, qrPayload, saleFacts, saleWorld, settleRequest, transactionOfQr, type SaleFacts, type SaleWorld,
} from "./helpers/sale-world.js";
import { systemAroundChild, TransactionChild } from "./helpers/transaction-child.js";
import { realPostgres, realRedis, type TestSystem } from "./helpers/system.js";

const test = creditSuite("transaction crash");
let sys: TestSystem;
let fx: Fixtures;
let db: pg.Client;
let child: TransactionChild;
let w: SaleWorld;

/** The platform's defaults, as the child runs them: the recovery bound's two terms. */
const DEFAULTS = settingsFromEnv(loadConfig({}).maxDeadlineMs, {});
/** What a retry after a restart may take, from the service being ready to the answer. */
const RETRY_ANSWER_MS = 2_000;
/** Time a sweeper pass itself may take on top of the bound (hops, a loaded 2-core box). */
const PASS_SLACK_MS = 2_000;

const STOPPED = "TRANSACTION_CRASH_AT: a call stopped here";
const AMOUNT = 20_000_00n;
const VOLUME_ML = 20_500n; // 650.00 × 20.5 l = 13 325.00
const SETTLED_MINOR = 1_332_500n;

test.before(async () => {
  const around = await systemAroundChild();
  sys = around.sys;
  child = new TransactionChild(sys, around.port);
  if (!realPostgres() || !realRedis()) console.log("  (transaction crash: embedded PGlite / in-process store; CI runs it on real PostgreSQL and Redis)");
  fx = await Fixtures.create(sys);
  db = new pg.Client({ connectionString: sys.databaseUrl });
  await db.connect();
  w = await saleWorld(sys, fx);
});

test.after(async () => {
  await child?.stop();
  w?.pos.close();
  await db?.end();
  await sys?.stop();
});

type Op = "authorize" | "settle" | "void";

/** A call that a kill cut short, and how it is to be finished. */
interface Cut {
  point: CrashPoint;
  op: Op;
  key: string;
  request: object;
  qrCodeId: string;
  transactionId: string;
  by: "retry" | "sweeper";
}

const OP_OF: Record<CrashPoint, Op> = {
  "after-authorize-intent": "authorize", "after-hold": "authorize",
  "after-settle-intent": "settle", "after-capture": "settle", "after-loan": "settle",
  "after-void-intent": "void", "after-void": "void",
};

/** Where each point leaves a sale: its row's state and its hold, what a reader is shown. */
const LEFT_AT: Record<CrashPoint, { state: string; hold: string | null; loans: number; shown: TransactionStatus }> = {
  "after-authorize-intent": { state: "PENDING", hold: null, loans: 0, shown: TransactionStatus.PENDING },
  "after-hold": { state: "PENDING", hold: "PENDING", loans: 0, shown: TransactionStatus.PENDING },
  "after-settle-intent": { state: "CAPTURING", hold: "PENDING", loans: 0, shown: TransactionStatus.AUTHORIZED },
  "after-capture": { state: "CAPTURING", hold: "CAPTURED", loans: 0, shown: TransactionStatus.AUTHORIZED },
  // Captured and lent, not yet recorded: shown as it was, never as more.
  "after-loan": { state: "CAPTURING", hold: "CAPTURED", loans: 1, shown: TransactionStatus.AUTHORIZED },
  "after-void-intent": { state: "VOIDING", hold: "PENDING", loans: 0, shown: TransactionStatus.AUTHORIZED },
  "after-void": { state: "VOIDING", hold: "VOIDED", loans: 0, shown: TransactionStatus.AUTHORIZED },
};

/** Where a sale rests once finished. */
const REST_OF: Record<Op, { state: string; shown: TransactionStatus }> = {
  authorize: { state: "AUTHORIZED", shown: TransactionStatus.AUTHORIZED },
  settle: { state: "SETTLED", shown: TransactionStatus.SETTLED },
  void: { state: "VOIDED", shown: TransactionStatus.VOIDED },
};

function call(op: Op, request: object, key: string) {
  const m = op === "authorize" ? TransactionService.method.authorize : op === "settle" ? TransactionService.method.settle : TransactionService.method.void;
  return w.pos.unary(m as typeof TransactionService.method.authorize, request as never, { "idempotency-key": key });
}

async function authorized(): Promise<{ transactionId: string; qrCodeId: string }> {
  const qr = await qrPayload(w);
  const t = (await call("authorize", authorizeRequest(w, qr.payload, AMOUNT), randomUUID())).message.transaction!;
  assert.is(t.status, TransactionStatus.AUTHORIZED);
  return { transactionId: t.transactionId, qrCodeId: qr.qrCodeId };
}

async function assertLedgerClean(): Promise<void> {
  const ledger = await fx.creditAdmin().verifyLedger({});
  assert.equal(ledger.differences.length, 0);
  assert.equal(ledger.unbalancedEntryIds, []);
  assert.equal(ledger.inconsistentHoldIds, []);
  assert.ok(ledger.consistent);
}

/** One sale finished: one hold; captured and lent once when settled; nothing more. */
function assertFinished(f: SaleFacts, op: Op, label: string): void {
  assert.is(f.state, REST_OF[op].state, label);
  assert.is(f.holds, 1, `${label}: one hold`);
  assert.is(f.captures, op === "settle" ? 1 : 0, `${label}: captures`);
  assert.is(f.loans, op === "settle" ? 1 : 0, `${label}: loans`);
  if (op === "settle") assert.ok(f.loanId, `${label}: SETTLED names its loan`);
  // An AUTHORIZED row waits for its hold's expiry; anything else is left to no one.
  if (op !== "authorize") assert.is(f.recoverAfter, null, `${label}: nothing left for the sweeper`);
}

const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

test("one SIGKILL with two calls stopped at each of 8 points: retries answer within 2 s of the restart, the sweeper finishes the rest within its bound", async () => {
  // The killed process stops two calls at every point, then kills itself: one kill leaves
  // sixteen sales half-done, two at each known point.
  await child.start({ TRANSACTION_SWEEP_MS: "0", TRANSACTION_CRASH_AT: CRASH_POINTS.map((p) => `${p}*2`).join(",") });
  const killed = new Promise<void>((resolve) => child.proc!.once("exit", () => resolve()));
  const cuts: Cut[] = [];
  for (const point of CRASH_POINTS) {
    const op = OP_OF[point];
    const pair: Cut[] = [];
    for (const by of ["retry", "sweeper"] as const) {
      const key = randomUUID();
      if (op === "authorize") {
        const qr = await qrPayload(w);
        pair.push({ point, op, key, request: authorizeRequest(w, qr.payload, AMOUNT), qrCodeId: qr.qrCodeId, transactionId: "", by });
      } else {
        const t = await authorized();
        const request = op === "settle" ? settleRequest(t.transactionId, VOLUME_ML) : { transactionId: t.transactionId, reason: "driver drove off" };
        pair.push({ point, op, key, request, qrCodeId: t.qrCodeId, transactionId: t.transactionId, by });
      }
    }
    // Both calls go at once; the point stops both (the last pair's second arrival is the kill).
    const stopped = child.waitForLogs((l) => l.msg === STOPPED && l.point === point, 2);
    for (const c of pair) call(c.op, c.request, c.key).catch(() => undefined);
    await Promise.race([stopped, killed]);
    cuts.push(...pair);
  }
  await killed;
  const killWall = Date.now();
  assert.is(child.proc!.signalCode, "SIGKILL");

  // Each sale is where its point says, and no further.
  for (const c of cuts) {
    c.transactionId ||= (await transactionOfQr(db, c.qrCodeId))!;
    assert.ok(c.transactionId, `${c.point}: the intent was recorded`);
    const f = await saleFacts(db, c.transactionId);
    const want = LEFT_AT[c.point];
    assert.is(f.state, want.state, `${c.point}: state`);
    assert.is(f.holdStatus, want.hold, `${c.point}: hold`);
    assert.is(f.loans, want.loans, `${c.point}: loans`);
    assert.ok(f.recoverAfter && f.recoverAfter.getTime() <= killWall + DEFAULTS.recoveryGraceMs, `${c.point}: due for the sweeper within the grace`);
  }

  // Restart with the defaults (sweeper every 5 s, grace = MAX_DEADLINE_MS 30 s).
  await child.start();
  const readyAt = child.readyAt;
  const readyWall = Date.now();
  // Nothing claims more than has happened: a reader sees each sale as its point left it.
  const shownP = Promise.all(cuts.filter((c) => c.by === "sweeper").map(async (c) =>
    ({ c, t: (await w.app.getTransaction({ transactionId: c.transactionId })).transaction! })));

  // The terminal retries its half with the same keys, as soon as the service answers.
  const retried = await Promise.all(cuts.filter((c) => c.by === "retry").map(async (c) => {
    const r = await asTerminal(() => call(c.op, c.request, c.key));
    return { c, t: r.value.message.transaction as FuelTransaction, ms: performance.now() - readyAt, attempts: r.attempts };
  }));
  for (const { c, t } of await shownP) {
    assert.is(TransactionStatus[t.status], TransactionStatus[LEFT_AT[c.point].shown], `${c.point}: shown`);
    assert.is(t.loanId, "", `${c.point}: no loan shown before SETTLED`);
  }
  const report: string[] = [];
  for (const { c, t, ms, attempts } of retried) {
    report.push(`${c.point.padEnd(22)} retry answered ${secs(ms)} after ready (${attempts} attempt${attempts > 1 ? "s" : ""})`);
    assert.ok(ms <= RETRY_ANSWER_MS, `${c.point}: the retry answered ${secs(ms)} after the restart`);
    assert.is(t.transactionId, c.transactionId);
    assert.is(TransactionStatus[t.status], TransactionStatus[REST_OF[c.op].shown], c.point);
    const f = await saleFacts(db, c.transactionId);
    assertFinished(f, c.op, `${c.point} (retried)`);
    if (c.op === "settle") {
      assert.is(t.loanId, f.loanId, `${c.point}: the answer names the one loan`);
      assert.is(t.settledAmount?.amountMinor, SETTLED_MINOR);
    }
    // Asked once more: the same answer, nothing new.
    const again = (await call(c.op, c.request, c.key)).message.transaction!;
    assert.is(again.status, t.status);
    assert.is(again.loanId, t.loanId);
  }

  // Nobody retries the other half: the sweeper brings each to rest within the bound.
  const left = cuts.filter((c) => c.by === "sweeper");
  const restAt = new Map<Cut, number>();
  const giveUp = readyWall + DEFAULTS.recoveryGraceMs + DEFAULTS.sweepMs + 3 * PASS_SLACK_MS;
  while (restAt.size < left.length && Date.now() < giveUp) {
    for (const c of left) {
      if (restAt.has(c)) continue;
      const f = await saleFacts(db, c.transactionId);
      if (f.state === REST_OF[c.op].state) restAt.set(c, Date.now());
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const c of left) {
    const at = restAt.get(c);
    assert.ok(at, `${c.point}: the sweeper finished the sale`);
    const f = await saleFacts(db, c.transactionId);
    assertFinished(f, c.op, `${c.point} (swept)`);
    // Due at most the grace after its step began (before the kill); then one pass.
    const bound = killWall + DEFAULTS.recoveryGraceMs + DEFAULTS.sweepMs + PASS_SLACK_MS;
    report.push(`${c.point.padEnd(22)} swept to rest ${secs(at! - killWall)} after the kill, ${secs(at! - readyWall)} after ready (bound ${secs(bound - killWall)} after the kill)`);
    assert.ok(at! <= Math.max(bound, readyWall + DEFAULTS.sweepMs + PASS_SLACK_MS), `${c.point}: at rest ${secs(at! - killWall)} after the kill`);
    const shown = (await w.app.getTransaction({ transactionId: c.transactionId })).transaction!;
    assert.is(TransactionStatus[shown.status], TransactionStatus[REST_OF[c.op].shown]);
    assert.is(shown.loanId, f.loanId ?? "");
  }
  console.log(`\n  restart: ready ${secs(readyWall - killWall)} after the kill\n  ${report.join("\n  ")}`);
  await assertLedgerClean();
});

test("SIGKILL at a random moment under 8 terminals' sales: each interrupted call's retry answers within 2 s of the restart; every sale ends with one hold, capture and loan", async () => {
  await child.stop();
  await child.start({ TRANSACTION_SWEEP_MS: "0" });
  const TERMINALS = 8;
  const SALES_EACH = 6;
  // A seeded moment, printed, so a failure can be replayed with CRASH_SEED.
  const seed = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 1e6));
  const killAfterMs = 40 + (seed % 200);
  const qrs: Array<{ payload: string; qrCodeId: string }> = [];
  for (let i = 0; i < TERMINALS * SALES_EACH; i += 8) qrs.push(...(await Promise.all(Array.from({ length: 8 }, () => qrPayload(w)))));

  interface Sale { qr: { payload: string; qrCodeId: string }; authKey: string; settleKey: string; transactionId: string; done: Op[]; cut: Op | null }
  const lanes: Sale[][] = Array.from({ length: TERMINALS }, (_, t) =>
    qrs.slice(t * SALES_EACH, (t + 1) * SALES_EACH).map((qr) => ({ qr, authKey: randomUUID(), settleKey: randomUUID(), transactionId: "", done: [], cut: null })));

  async function step(s: Sale, op: "authorize" | "settle"): Promise<void> {
    const t = op === "authorize"
      ? (await call("authorize", authorizeRequest(w, s.qr.payload, AMOUNT), s.authKey)).message.transaction!
      : (await call("settle", settleRequest(s.transactionId, VOLUME_ML), s.settleKey)).message.transaction!;
    if (op === "authorize") s.transactionId = t.transactionId;
    s.done.push(op);
  }
  // Each terminal sells until the service dies under it.
  const run = async (lane: Sale[]) => {
    for (const s of lane) {
      for (const op of ["authorize", "settle"] as const) {
        try {
          await step(s, op);
        } catch (err) {
          const code = (err as grpc.ServiceError).code;
          assert.ok(code === grpc.status.UNAVAILABLE || code === grpc.status.DEADLINE_EXCEEDED || code === grpc.status.ABORTED, `a cut call fails retryably, not ${code}`);
          s.cut = op;
          return;
        }
      }
    }
  };
  const started = performance.now();
  const timer = setTimeout(() => void child.kill(), killAfterMs);
  await Promise.all(lanes.map(run));
  clearTimeout(timer);
  await child.kill();
  const killedAfter = performance.now() - started;
  const touched = lanes.flat().filter((s) => s.done.length > 0 || s.cut);
  const states: Record<string, number> = {};
  for (const s of touched) {
    const id = s.transactionId || (await transactionOfQr(db, s.qr.qrCodeId));
    const st = id ? (await saleFacts(db, id)).state : "none";
    states[st] = (states[st] ?? 0) + 1;
  }

  await child.start({ TRANSACTION_SWEEP_MS: "0" });
  const readyAt = child.readyAt;
  // Each terminal retries its cut call with its key, then finishes its sale.
  const firstAnswerMs: number[] = [];
  await Promise.all(lanes.map(async (lane) => {
    const s = lane.find((x) => x.cut);
    if (!s) return;
    const ops: Array<"authorize" | "settle"> = s.cut === "authorize" ? ["authorize", "settle"] : ["settle"];
    for (const [i, op] of ops.entries()) {
      await asTerminal(() => step(s, op));
      if (i === 0) firstAnswerMs.push(performance.now() - readyAt);
    }
  }));
  console.log(`\n  seed ${seed}: killed ${killedAfter.toFixed(0)} ms into the load; ${touched.length} sales touched, rows then ${JSON.stringify(states)}; ` +
    `${firstAnswerMs.length} cut calls retried, answered ${firstAnswerMs.map((m) => secs(m)).join(", ")} after ready`);
  assert.ok(firstAnswerMs.length > 0, "the kill cut some calls short");
  for (const ms of firstAnswerMs) assert.ok(ms <= RETRY_ANSWER_MS, `a retry answered ${secs(ms)} after the restart (seed ${seed})`);
  for (const s of touched) {
    assert.equal(s.done, ["authorize", "settle"], "every touched sale is settled");
    assertFinished(await saleFacts(db, s.transactionId), "settle", `sale ${s.transactionId} (seed ${seed})`);
  }
  await assertLedgerClean();
});

test.run();
