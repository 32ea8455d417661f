// A database per service: CreditService and LoanService each on a fresh database of
// their own (CREDIT_DATABASE_URL, LOAN_DATABASE_URL), every other service on
// DATABASE_URL's, all on the real server. The whole credit cycle runs green through the
// gateway (the hops transaction → credit, transaction → loan, loan → credit and
// payment → loan cross databases as they would cross servers), VerifyLedger is clean,
// and each service's schema, migrations and rows exist only in its own database.
import pg from "pg";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { SERVICE_NAMES, type ServiceName } from "../platform/config.js";
import { creditCycle, type CycleResult } from "./helpers/credit-cycle.js";
import { realPostgres, startTestSystem, type TestSystem } from "./helpers/system.js";

const test = suite("databases");
let sys: TestSystem | null = null;
let cycle: CycleResult;

test.before(async () => {
  if (!realPostgres()) return;
  sys = await startTestSystem({ ownDatabases: ["credit", "loan"] });
});
test.after(async () => {
  await sys?.stop();
});

/** Runs `fn` on a client of `url`'s database. */
async function on<T>(url: string, fn: (db: pg.Client) => Promise<T>): Promise<T> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    return await fn(db);
  } finally {
    await db.end();
  }
}

const schemasIn = (url: string) =>
  on(url, async (db) => (await db.query<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE nspname = ANY($1) ORDER BY nspname`, [[...SERVICE_NAMES]])).rows.map((r) => r.nspname));

test("credit and loan work in databases of their own; the whole cycle is green", async () => {
  if (!sys) return void console.log("  databases: a database per service needs a real PostgreSQL (DATABASE_URL; CI sets it)");
  const [shared, credit, loan] = [sys.databaseUrl, sys.databaseOf("credit"), sys.databaseOf("loan")];
  assert.is(new Set([shared, credit, loan].map((u) => new URL(u).pathname)).size, 3, "three different databases");
  for (const name of SERVICE_NAMES.filter((s) => s !== "credit" && s !== "loan")) assert.is(sys.databaseOf(name), shared, name);
  cycle = await creditCycle(sys);
  console.log(`  databases: the cycle across three databases took ${cycle.ms.toFixed(0)} ms from QR to restored limit`);
});

test("each service's schema and migrations exist only in its own database", async () => {
  if (!sys) return;
  const others: ServiceName[] = SERVICE_NAMES.filter((s) => s !== "credit" && s !== "loan");
  assert.equal(await schemasIn(sys.databaseOf("credit")), ["credit"]);
  assert.equal(await schemasIn(sys.databaseOf("loan")), ["loan"]);
  assert.equal(await schemasIn(sys.databaseUrl), [...others].sort());
  // node-pg-migrate recorded each service's migrations where it applied them.
  const applied = (url: string, schema: string) => on(url, async (db) => (await db.query(`SELECT count(*)::int AS n FROM ${schema}.pgmigrations`)).rows[0].n as number);
  assert.ok((await applied(sys.databaseOf("credit"), "credit")) > 0);
  assert.ok((await applied(sys.databaseOf("loan"), "loan")) > 0);
});

test("the cycle's rows are in the database of the service that owns them", async () => {
  if (!sys || !cycle) return;
  const one = (url: string, sql: string, params: unknown[]) => on(url, async (db) => (await db.query(sql, params)).rows.length);
  assert.is(await one(sys.databaseOf("credit"), `SELECT 1 FROM credit.lines WHERE line_id = $1`, [cycle.creditLineId]), 1, "the line is in credit's database");
  assert.is(await one(sys.databaseOf("credit"), `SELECT 1 FROM credit.holds WHERE transaction_id = $1 AND status = 'CAPTURED'`, [cycle.transactionId]), 1, "the captured hold too");
  assert.is(await one(sys.databaseOf("loan"), `SELECT 1 FROM loan.loans WHERE loan_id = $1 AND transaction_id = $2`, [cycle.loanId, cycle.transactionId]), 1, "the loan is in loan's database");
  assert.is(await one(sys.databaseUrl, `SELECT 1 FROM transaction.transactions WHERE transaction_id = $1 AND loan_id = $2`, [cycle.transactionId, cycle.loanId]), 1, "the sale is in the shared database");
  assert.is(await one(sys.databaseUrl, `SELECT 1 FROM payment.payments WHERE payment_id = $1`, [cycle.paymentId]), 1, "the payment too");
});

test.run();
