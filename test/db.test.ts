// Named prepared statements (platform/db.ts): parameterised statements are prepared once
// per connection under a name derived from their text, and a table changed under a
// prepared `SELECT *` costs one failed call, after which the text goes unnamed.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createPool, type Pool } from "../platform/db.js";
import { freshDatabase } from "./helpers/system.js";

const test = suite("db named statements");
let pool: Pool | undefined;
let drop: (() => Promise<void>) | undefined;

test.before(async () => {
  // Real PostgreSQL only: the embedded server never gets named statements (it
  // multiplexes clients onto one session), so there is nothing to test there.
  const db = await freshDatabase();
  if (!db) return;
  drop = db.drop;
  pool = createPool({ connectionString: db.url, max: 1, namedStatements: true });
  await pool.query(`CREATE TABLE things (id int PRIMARY KEY, label text)`);
  await pool.query(`INSERT INTO things VALUES (1, 'one'), (2, 'two')`);
});
test.after(async () => {
  await pool?.end();
  await drop?.();
});

test("a parameterised statement is prepared once, under a name from its text", async () => {
  if (!pool) return assert.ok(!process.env.DATABASE_URL, "real PostgreSQL was configured but not used");
  const text = `SELECT label FROM things WHERE id = $1`;
  assert.is((await pool.query(text, [1])).rows[0].label, "one");
  assert.is((await pool.query(text, [2])).rows[0].label, "two");
  const prepared = await pool.query(`SELECT name, statement FROM pg_prepared_statements`);
  const mine = prepared.rows.filter((r) => r.statement === text);
  assert.is(mine.length, 1, "one prepared statement for the text, used twice");
  assert.match(mine[0].name, /^s_[A-Za-z0-9_-]{20}$/);
});

test("a table changed under a prepared SELECT *: one call fails, the retry works unnamed", async () => {
  if (!pool) return assert.ok(!process.env.DATABASE_URL, "real PostgreSQL was configured but not used");
  const text = `SELECT * FROM things WHERE id = $1`;
  assert.equal(Object.keys((await pool.query(text, [1])).rows[0]), ["id", "label"]);
  await pool.query(`ALTER TABLE things ADD COLUMN colour text DEFAULT 'red'`);
  let failed: { code?: string } | undefined;
  try {
    await pool.query(text, [1]);
  } catch (err) {
    failed = err as { code?: string };
  }
  assert.is(failed?.code, "0A000", "PostgreSQL refuses the stale cached plan");
  const retried = await pool.query(text, [1]);
  assert.equal(Object.keys(retried.rows[0]), ["id", "label", "colour"]);
  assert.is(retried.rows[0].colour, "red");
});

test.run();
