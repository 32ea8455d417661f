// The Postgres guard for money: a key runs once even when Redis has forgotten it, racing
// transactions with one key run once, and a different request under the key is refused —
// both through guardOnce and through guardedWork's simple-query framing.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Code, ConnectError } from "@connectrpc/connect";
import { createPool, withTx, type Pool, type Tx } from "../platform/db.js";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "../platform/embedded.js";
import { guardedWork, guardOnce, type Guarded } from "../platform/pg-guard.js";
import { freshDatabase } from "./helpers/system.js";

const test = suite("pg guard");
let pool: Pool;
let drop: (() => Promise<void>) | undefined;
let embedded: EmbeddedPostgres | undefined;

test.before(async () => {
  const db = await freshDatabase();
  let url = db?.url;
  drop = db?.drop;
  if (!url) {
    embedded = await startEmbeddedPostgres();
    url = embedded.url;
  }
  pool = createPool({ connectionString: url, max: 8 });
  await pool.query(`CREATE SCHEMA money`);
  await pool.query(`CREATE TABLE money.idempotency_keys (scope text, key text, request_hash text NOT NULL, response bytea, create_time timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (scope, key))`);
  await pool.query(`CREATE TABLE money.moves (id serial PRIMARY KEY, amount_minor bigint NOT NULL)`);
});
test.after(async () => {
  await pool?.end();
  await drop?.();
  await embedded?.stop();
});

type Work<T> = (key: string, hash: string, fn: (tx: Tx) => Promise<{ value: T; response: Uint8Array }>) => Promise<Guarded<T>>;

// The two ways in: guardOnce inside a caller's transaction, and guardedWork, which sends
// the guard's statements with BEGIN and COMMIT as simple queries (values as literals).
const ways: Array<[string, Work<number>]> = [
  ["guardOnce", (key, hash, fn) => withTx(pool, (tx) => guardOnce(tx, "money.idempotency_keys", { scope: "s1", key, requestHash: hash }, () => fn(tx)))],
  ["guardedWork", (key, hash, fn) => guardedWork(pool, "money.idempotency_keys", { scope: "s1", key, requestHash: hash }, fn)],
];

for (const [name, work] of ways) {
  const move = (key: string, hash: string, amount: bigint) =>
    work(key, hash, async (tx) => {
      const r = await tx.query<{ id: number }>(`INSERT INTO money.moves (amount_minor) VALUES ($1) RETURNING id`, [amount]);
      return { value: r.rows[0]!.id, response: new TextEncoder().encode(`moved ${amount}`) };
    });
  const moved = async (amount: bigint) =>
    (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM money.moves WHERE amount_minor = $1`, [amount])).rows[0]!.n;

  test(`${name}: first call runs, the retry replays the stored response`, async () => {
    const first = await move(`${name}-k1`, "h1", 500n);
    assert.is(first.replayed, false);
    const second = await move(`${name}-k1`, "h1", 500n);
    assert.ok(second.replayed);
    if (second.replayed) assert.is(new TextDecoder().decode(second.response), "moved 500");
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM money.idempotency_keys WHERE key = $1`, [`${name}-k1`]);
    assert.is(rows[0].n, 1);
  });

  test(`${name}: the same key with a different request is INVALID_ARGUMENT`, async () => {
    try {
      await move(`${name}-k1`, "other-hash", 900n);
      assert.unreachable();
    } catch (err) {
      assert.is(ConnectError.from(err).code, Code.InvalidArgument);
    }
  });

  test(`${name}: 20 racing transactions with one key move money once`, async () => {
    const amount = name === "guardOnce" ? 100n : 101n;
    const results = await Promise.all(Array.from({ length: 20 }, () => move(`${name}-race`, "h", amount)));
    assert.is(results.filter((r) => !r.replayed).length, 1);
    assert.is(await moved(amount), 1);
  });

  test(`${name}: a failed transaction leaves no key behind, so the retry runs`, async () => {
    try {
      await work(`${name}-boom`, "h", async () => {
        throw new Error("crash between steps");
      });
      assert.unreachable();
    } catch (err) {
      assert.is((err as Error).message, "crash between steps");
    }
    const retry = await move(`${name}-boom`, "h", 7n);
    assert.is(retry.replayed, false);
  });
}

test("guardedWork: keys, hashes and responses travel as literals byte for byte", async () => {
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
