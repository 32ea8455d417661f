// The Postgres guard for money: a key runs once even when Redis has forgotten it, racing
// transactions with one key run once, and a different request under the key is refused;
// the values it sends as literals arrive byte for byte.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Pool } from "../platform/db.js";
import { guardedWork } from "../platform/pg-guard.js";
import { scratchPool } from "./helpers/scratch-pool.js";

const test = suite("pg guard");
let pool: Pool;
let close: (() => Promise<void>) | undefined;

test.before(async () => {
  ({ pool, close } = await scratchPool(8));
  await pool.query(`CREATE SCHEMA money`);
  await pool.query(`CREATE TABLE money.idempotency_keys (scope text, key text, request_hash text NOT NULL, response bytea, create_time timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (scope, key))`);
  await pool.query(`CREATE TABLE money.moves (id serial PRIMARY KEY, amount_minor bigint NOT NULL)`);
});
test.after(async () => {
  await close?.();
});

const move = (key: string, hash: string, amount: bigint) =>
  guardedWork(pool, "money.idempotency_keys", { scope: "s1", key, requestHash: hash }, async (tx) => {
    const r = await tx.query<{ id: number }>(`INSERT INTO money.moves (amount_minor) VALUES ($1) RETURNING id`, [amount]);
    return { value: r.rows[0]!.id, response: new TextEncoder().encode(`moved ${amount}`) };
  });

test("first call runs, the retry replays the stored response", async () => {
  const first = await move("k1", "h1", 500n);
  assert.is(first.replayed, false);
  const second = await move("k1", "h1", 500n);
  assert.ok(second.replayed);
  if (second.replayed) assert.is(new TextDecoder().decode(second.response), "moved 500");
  const { rows } = await pool.query(`SELECT count(*)::int AS n FROM money.moves`);
  assert.is(rows[0].n, 1);
});

test("the same key with a different request is INVALID_ARGUMENT", async () => {
  try {
    await move("k1", "other-hash", 900n);
    assert.unreachable();
  } catch (err) {
    assert.is(ConnectError.from(err).code, Code.InvalidArgument);
  }
});

test("20 racing transactions with one key move money once", async () => {
  const results = await Promise.all(Array.from({ length: 20 }, () => move("race", "h", 100n)));
  assert.is(results.filter((r) => !r.replayed).length, 1);
  const { rows } = await pool.query(`SELECT count(*)::int AS n, sum(amount_minor)::bigint AS total FROM money.moves WHERE amount_minor = 100`);
  assert.is(rows[0].n, 1);
  assert.is(rows[0].total, 100n);
});

test("a failed transaction leaves no key behind, so the retry runs", async () => {
  try {
    await guardedWork(pool, "money.idempotency_keys", { scope: "s1", key: "boom", requestHash: "h" }, async () => {
      throw new Error("crash between steps");
    });
    assert.unreachable();
  } catch (err) {
    assert.is((err as Error).message, "crash between steps");
  }
  const retry = await move("boom", "h", 7n);
  assert.is(retry.replayed, false);
});

test("keys, hashes and responses travel as literals byte for byte", async () => {
  // Every printable ASCII character a key may hold, quotes and backslashes included, and a
  // response with every byte value.
  const key = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join("") + "'\\'";
  const hash = "h'\\x00";
  const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
  const first = await guardedWork(pool, "money.idempotency_keys", { scope: "s'1", key, requestHash: hash }, async () => ({ value: 1, response: bytes }));
  assert.is(first.replayed, false);
  const { rows } = await pool.query(`SELECT scope, key, request_hash, response FROM money.idempotency_keys WHERE key = $1`, [key]);
  assert.equal([rows[0].scope, rows[0].key, rows[0].request_hash], ["s'1", key, hash]);
  assert.equal(new Uint8Array(rows[0].response), bytes);
  const again = await guardedWork(pool, "money.idempotency_keys", { scope: "s'1", key, requestHash: hash }, async () => ({ value: 2, response: new Uint8Array() }));
  assert.ok(again.replayed);
  if (again.replayed) assert.equal(again.response, bytes);
});

test.run();
