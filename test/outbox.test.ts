// The platform outbox against PostgreSQL: racing claimers never deliver a row twice;
// a failure waits out its backoff; a row is given up on after its last attempt or on a
// permanent answer (unless it may not be); rows of one key go out in order, one at a
// time, and a dead one stops holding the next; a crashed claimer's rows come back when
// its lease runs out, and its late answer changes nothing; effects go with the outcome;
// the service's clock and a separate lease column (the notification layout); wake and stop.
import { randomUUID } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Pool } from "../platform/db.js";
import { NOW, Outbox, relayTable, type OutboxSpec, type OutboxTable, type Result } from "../platform/outbox.js";
import { claimStatement, recordStatement } from "../platform/outbox-sql.js";
import { scratchPool } from "./helpers/scratch-pool.js";
import { until } from "./helpers/until.js";

const test = suite("outbox");
let pool: Pool;
let close: (() => Promise<void>) | undefined;

interface Row {
  outbox_id: string;
  key: string;
  attempts: number;
}

const TABLE = relayTable("box.outbox", ["key"], { traceCarrier: undefined, orderPerKey: { key: "key", where: "key <> ''" } });

test.before(async () => {
  ({ pool, close } = await scratchPool(12));
  await pool.query(`CREATE SCHEMA box`);
  await pool.query(`CREATE TABLE box.outbox (
    outbox_id uuid PRIMARY KEY, seq bigserial NOT NULL UNIQUE, key text NOT NULL DEFAULT '',
    attempts integer NOT NULL DEFAULT 0, next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz, dead_at timestamptz, last_error text, create_time timestamptz NOT NULL DEFAULT now())`);
  await pool.query(`CREATE TABLE box.effects (outbox_id uuid NOT NULL, attempts integer NOT NULL)`);
  await pool.query(`CREATE TABLE box.deliveries (
    delivery_id uuid PRIMARY KEY, status text NOT NULL, attempts integer NOT NULL DEFAULT 0, last_error text NOT NULL DEFAULT '',
    next_attempt_time timestamptz, locked_until timestamptz, sent_time timestamptz, note text NOT NULL DEFAULT '', create_time timestamptz NOT NULL)`);
});
test.after(async () => {
  await close?.();
});
test.before.each(async () => {
  await pool.query(`TRUNCATE box.outbox, box.effects, box.deliveries`);
});

const outbox = (deliver: OutboxSpec<Row>["deliver"], more: Partial<OutboxSpec<Row>> = {}) =>
  new Outbox<Row>({ name: "test", pool, table: TABLE, deliver, random: () => 1, ...more, options: { pollMs: 10_000, ...more.options } });

async function insert(keys: string[]): Promise<string[]> {
  const ids = keys.map(() => randomUUID());
  // One statement: seq follows the order of the arrays.
  await pool.query(`INSERT INTO box.outbox (outbox_id, key) SELECT id, k FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS u(id, k, n) ORDER BY n`, [ids, keys]);
  return ids;
}

async function rowOf(id: string) {
  const { rows } = await pool.query(
    `SELECT attempts, last_error, delivered_at, dead_at, extract(epoch FROM next_attempt_at - now())::float8 AS due_in_s FROM box.outbox WHERE outbox_id = $1`,
    [id],
  );
  return rows[0] as { attempts: number; last_error: string | null; delivered_at: Date | null; dead_at: Date | null; due_in_s: number };
}

const makeDue = () => pool.query(`UPDATE box.outbox SET next_attempt_at = now() WHERE delivered_at IS NULL AND dead_at IS NULL`);
const unavailable = () => new ConnectError("down", Code.Unavailable);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("claimers racing over one table deliver every row exactly once", async () => {
  const ids = await insert(Array.from({ length: 300 }, () => ""));
  const calls = new Map<string, number>();
  const deliver = async (row: Row) => {
    calls.set(row.outbox_id, (calls.get(row.outbox_id) ?? 0) + 1);
    await sleep(Math.random() * 3);
  };
  const claimers = Array.from({ length: 6 }, () => outbox(deliver, { options: { batchSize: 7, concurrency: 3 } }));
  const claimed = await Promise.all(
    claimers.map(async (o) => {
      let n = 0;
      for (let got = -1; got !== 0; ) n += got = await o.runOnce();
      return n;
    }),
  );
  assert.is(claimed.reduce((a, b) => a + b, 0), 300, "each row claimed once in all");
  assert.ok(claimed.filter((n) => n > 0).length > 1, "more than one claimer took part");
  assert.is(calls.size, 300);
  assert.ok([...calls.values()].every((n) => n === 1), "no row delivered twice");
  const { rows } = await pool.query(`SELECT count(*)::int AS n FROM box.outbox WHERE delivered_at IS NOT NULL AND attempts = 1 AND outbox_id = ANY($1::uuid[])`, [ids]);
  assert.is(rows[0].n, 300);
});

test("a failure is stored and retried after its backoff, not before", async () => {
  const [id] = await insert([""]);
  let fail = true;
  const o = outbox(async () => {
    if (fail) throw unavailable();
  }, { options: { baseBackoffMs: 60_000 } });
  assert.is(await o.runOnce(), 1);
  const r = await rowOf(id!);
  assert.is(r.attempts, 1);
  assert.is(r.last_error, "Unavailable: down");
  assert.ok(r.due_in_s > 59 && r.due_in_s <= 60.5, `due in ${r.due_in_s} s (random = 1: the whole base delay)`);
  assert.is(r.delivered_at, null);
  assert.is(await o.runOnce(), 0, "not due yet");
  fail = false;
  await makeDue();
  assert.is(await o.runOnce(), 1);
  const after = await rowOf(id!);
  assert.ok(after.delivered_at);
  assert.is(after.attempts, 2);
  assert.is(after.last_error, null);
});

test("given up after the last attempt, or at once on a permanent answer", async () => {
  const [slow, bad] = await insert(["", ""]);
  const o = outbox(async (row) => {
    throw row.outbox_id === bad ? new ConnectError("no such loan", Code.NotFound) : unavailable();
  }, { options: { maxAttempts: 3 } });
  await o.runOnce();
  assert.ok((await rowOf(bad!)).dead_at, "permanent: dead after one attempt");
  assert.is((await rowOf(bad!)).last_error, "NotFound: no such loan");
  assert.is((await rowOf(slow!)).dead_at, null);
  for (let i = 0; i < 2; i++) {
    await makeDue();
    await o.runOnce();
  }
  const r = await rowOf(slow!);
  assert.is(r.attempts, 3);
  assert.ok(r.dead_at, "dead after the 3rd attempt");
  await makeDue();
  assert.is(await o.runOnce(), 0, "a dead row is never claimed");
});

test("a row that may not be given up on is retried whatever the answer", async () => {
  const [id] = await insert([""]);
  const lastSeen: boolean[] = [];
  const o = outbox(async (_row, attempt) => {
    lastSeen.push(attempt.last);
    throw new ConnectError("refused", Code.FailedPrecondition);
  }, { options: { maxAttempts: 2 }, mayGiveUp: () => false });
  for (let i = 0; i < 4; i++) {
    await makeDue();
    await o.runOnce();
  }
  const r = await rowOf(id!);
  assert.is(r.attempts, 4);
  assert.is(r.dead_at, null);
  assert.equal(lastSeen, [false, false, false, false]);
});

test("rows of one key go out in order, one at a time; a dead row stops holding the next", async () => {
  const [a1, a2, a3, b1, free1, free2] = await insert(["a", "a", "a", "b", "", ""]);
  const seen: string[] = [];
  let failA1 = true;
  const o = outbox(async (row) => {
    seen.push(row.outbox_id);
    if (row.outbox_id === a1 && failA1) throw unavailable();
  }, { options: { maxAttempts: 2 } });
  await o.runOnce();
  // a1 failed and waits; a2 and a3 wait behind it. Rows without a key are not ordered.
  assert.equal(new Set(seen), new Set([a1, b1, free1, free2]));
  seen.length = 0;
  await makeDue();
  failA1 = true;
  await o.runOnce(); // a1's 2nd and last attempt fails: dead
  assert.ok((await rowOf(a1!)).dead_at);
  assert.equal(seen, [a1]);
  seen.length = 0;
  await o.runOnce();
  assert.equal(seen, [a2], "the dead row holds nothing back; a3 still waits for a2");
  seen.length = 0;
  await o.runOnce();
  assert.equal(seen, [a3]);
});

test("racing claimers keep each key's order and never deliver two rows of a key at once", async () => {
  const keys = Array.from({ length: 120 }, (_, i) => `k${i % 8}`);
  const ids = await insert(keys);
  const order = new Map<string, string[]>();
  const inFlight = new Set<string>();
  let overlap = false;
  const deliver = async (row: Row) => {
    if (inFlight.has(row.key)) overlap = true;
    inFlight.add(row.key);
    await sleep(1 + Math.random() * 2);
    order.set(row.key, [...(order.get(row.key) ?? []), row.outbox_id]);
    inFlight.delete(row.key);
  };
  const claimers = Array.from({ length: 4 }, () => outbox(deliver, { options: { batchSize: 5 } }));
  await until("all delivered", async () => {
    await Promise.all(claimers.map((o) => o.runOnce()));
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM box.outbox WHERE delivered_at IS NULL`);
    return rows[0].n === 0 ? true : undefined;
  }, 30_000, 0);
  assert.not.ok(overlap, "two rows of one key in flight at once");
  for (const [key, got] of order) assert.equal(got, ids.filter((_, i) => keys[i] === key), `order of ${key}`);
});

test("a crashed claimer's row comes back when its lease runs out; its late answer changes nothing", async () => {
  const [id] = await insert([""]);
  // The claimer that dies: claims with a short lease, then never records.
  const claim = claimStatement(TABLE, null, 10, 300);
  assert.is((await pool.query(claim.text, claim.values)).rowCount, 1);
  let calls = 0;
  const o = outbox(async (row) => {
    calls++;
    return { delivered: true, effects: async (tx) => void (await tx.query(`INSERT INTO box.effects VALUES ($1, $2)`, [row.outbox_id, row.attempts])) } satisfies Result;
  });
  assert.is(await o.runOnce(), 0, "leased: nobody else takes it");
  await sleep(350);
  assert.is(await o.runOnce(), 1, "lease ran out: claimed again");
  assert.is(calls, 1);
  const r = await rowOf(id!);
  assert.is(r.attempts, 2);
  assert.ok(r.delivered_at);
  // The first claimer wakes up and reports a failure of attempt 1: fenced off.
  const late = recordStatement(TABLE, null, id, 1, { outcome: "retry", error: "late", delayMs: 1 });
  assert.is((await pool.query(late.text, late.values)).rowCount, 0);
  assert.is((await rowOf(id!)).last_error, null);
  const { rows } = await pool.query(`SELECT attempts FROM box.effects`);
  assert.equal(rows, [{ attempts: 2 }], "effects written once, with the outcome");
});

test("effects are undone when another claim took the row meanwhile", async () => {
  const [id] = await insert([""]);
  const o = outbox(async () => {
    // While this delivery runs its lease runs out and another claimer takes the row.
    await sleep(250);
    await pool.query(`UPDATE box.outbox SET attempts = attempts + 1 WHERE outbox_id = $1`, [id]);
    return { delivered: true, effects: async (tx) => void (await tx.query(`INSERT INTO box.effects VALUES ($1, 0)`, [id])) };
  });
  assert.is(await o.runOnce(), 1);
  assert.is((await rowOf(id!)).delivered_at, null, "not ours to mark");
  assert.is((await pool.query(`SELECT count(*)::int AS n FROM box.effects`)).rows[0].n, 0);
});

test("a batch's plain deliveries are marked together, each still fenced by its attempt", async () => {
  const ids = await insert(["", "", "", ""]);
  const statements: string[] = [];
  const counting = Object.create(pool) as Pool;
  counting.query = ((text: string, values?: unknown[]) => {
    statements.push(text);
    return pool.query(text, values);
  }) as Pool["query"];
  const o = outbox(async (row) => {
    // The last row is claimed again by someone else while it is delivered here.
    if (row.outbox_id === ids[3]) await pool.query(`UPDATE box.outbox SET attempts = attempts + 1 WHERE outbox_id = $1`, [row.outbox_id]);
  }, { pool: counting });
  assert.is(await o.runOnce(), 4);
  assert.is(statements.length, 2, "one claim, one mark");
  for (const id of ids.slice(0, 3)) assert.ok((await rowOf(id)).delivered_at);
  assert.is((await rowOf(ids[3]!)).delivered_at, null, "not ours to mark");
});

test("a row whose last attempt was cut off is given up on without another", async () => {
  const [id] = await insert([""]);
  await pool.query(`UPDATE box.outbox SET attempts = 3, last_error = 'Unavailable: down' WHERE outbox_id = $1`, [id]);
  let calls = 0;
  const o = outbox(async () => void calls++, { options: { maxAttempts: 3 } });
  assert.is(await o.runOnce(), 1);
  const r = await rowOf(id!);
  assert.is(calls, 0);
  assert.ok(r.dead_at);
  assert.is(r.attempts, 3, "the attempt never made is not counted");
  assert.is(r.last_error, "Unavailable: down", "the last real error is kept");
});

test("the service's clock and a lease column of its own (the notification layout)", async () => {
  let nowMs = Date.parse("2030-01-01T00:00:00Z");
  const clock = () => new Date(nowMs);
  const table: OutboxTable = {
    table: "box.deliveries",
    id: "delivery_id",
    seq: "delivery_id",
    attempts: "attempts",
    dueAt: "next_attempt_time",
    leaseUntil: "locked_until",
    lastError: "last_error",
    waiting: "status = 'QUEUED'",
    givenUp: "status = 'FAILED'",
    created: "create_time",
    columns: ["status", "note"],
    onDelivered: { status: "SENT", sent_time: NOW, last_error: "", next_attempt_time: null },
    onDead: { status: "FAILED", next_attempt_time: null },
  };
  const id = randomUUID();
  await pool.query(`INSERT INTO box.deliveries (delivery_id, status, next_attempt_time, create_time) VALUES ($1, 'QUEUED', $2, $2)`, [id, clock()]);
  let fail = true;
  const o = new Outbox<Row & { note: string }>({
    name: "test-clock",
    pool,
    table,
    clock,
    random: () => 1,
    options: { baseBackoffMs: 1_000, leaseMs: 60_000 },
    deliver: async () => (fail ? { delivered: false, failure: { error: "PROVIDER_DOWN", permanent: false }, onRetry: { note: "tried" } } : { delivered: true }),
  });
  const read = async () => (await pool.query(`SELECT * FROM box.deliveries WHERE delivery_id = $1`, [id])).rows[0];
  assert.is(await o.runOnce(), 1, "due by the service's clock (the database's is years behind)");
  let d = await read();
  assert.equal([d.status, d.attempts, d.last_error, d.note, d.locked_until], ["QUEUED", 1, "PROVIDER_DOWN", "tried", null]);
  assert.is(d.next_attempt_time.getTime(), nowMs + 1_000, "the retry is scheduled by the service's clock");
  assert.is(await o.runOnce(), 0);
  nowMs += 1_000;
  fail = false;
  assert.is(await o.runOnce(), 1);
  d = await read();
  assert.equal([d.status, d.attempts, d.sent_time.getTime(), d.next_attempt_time, d.locked_until], ["SENT", 2, nowMs, null, null]);
  // A claim that died keeps the row leased (locked_until), not rescheduled.
  await pool.query(`UPDATE box.deliveries SET status = 'QUEUED', next_attempt_time = $2 WHERE delivery_id = $1`, [id, clock()]);
  const claim = claimStatement(table, clock(), 10, 60_000);
  await pool.query(claim.text, claim.values);
  d = await read();
  assert.is(d.locked_until.getTime(), nowMs + 60_000);
  assert.is(d.next_attempt_time.getTime(), nowMs);
  assert.is(await o.runOnce(), 0);
  nowMs += 60_000;
  assert.is(await o.runOnce(), 1);
  assert.is((await read()).status, "SENT");
});

test("wake() delivers at once; stop() waits for deliveries in flight", async () => {
  let release: () => void = () => undefined;
  const started: string[] = [];
  const o = outbox(async (row) => {
    started.push(row.outbox_id);
    await new Promise<void>((r) => (release = r));
  }, { options: { pollMs: 60_000 } });
  o.start();
  await sleep(50); // the first pass found nothing; the next poll is a minute away
  const [id] = await insert([""]);
  o.wake();
  await until("delivery started", async () => (started.length === 1 ? true : undefined), 2_000);
  let stopped = false;
  const stopping = o.stop().then(() => (stopped = true));
  await sleep(100);
  assert.not.ok(stopped, "stop waits for the delivery in flight");
  release();
  await stopping;
  assert.ok((await rowOf(id!)).delivered_at, "recorded before stop resolved");
});

test.run();
