// Which database each service works in, from DATABASE_URL, DATABASE_DIRECT_URL and their
// per-service overrides; and every mistake named at start.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ConfigError, loadConfig } from "../platform/config.js";

const test = suite("database config");

const PG = "postgresql://fuel@db:5432/fuel";
const BOUNCER = "postgresql://fuel@pgbouncer:6432/fuel";
const CREDIT = "postgresql://credit@credit-db:5432/credit";
const CREDIT_BOUNCER = "postgresql://credit@credit-bouncer:6432/credit";

/** The problems loadConfig names for `env`, or [] when it accepts it. */
function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    assert.instance(err, ConfigError);
    return (err as ConfigError).problems;
  }
}

test("nothing set: every service on the embedded database", () => {
  const cfg = loadConfig({});
  for (const d of Object.values(cfg.databases)) assert.is(d, undefined);
  assert.ok(cfg.pgNamedStatements);
});

test("DATABASE_URL alone: every service on it, direct and unpooled", () => {
  const cfg = loadConfig({ DATABASE_URL: PG });
  for (const d of Object.values(cfg.databases)) assert.equal(d, { url: PG, directUrl: PG, pooled: false });
  assert.is(cfg.databaseDirectUrl, PG);
  assert.ok(cfg.pgNamedStatements);
});

test("<NAME>_DATABASE_URL overrides DATABASE_URL for that service only", () => {
  const cfg = loadConfig({ DATABASE_URL: PG, CREDIT_DATABASE_URL: CREDIT });
  assert.equal(cfg.databases.credit, { url: CREDIT, directUrl: CREDIT, pooled: false });
  assert.equal(cfg.databases.loan, { url: PG, directUrl: PG, pooled: false });
});

test("behind PgBouncer: sessions go to the direct URL; named statements default off", () => {
  const cfg = loadConfig({ DATABASE_URL: BOUNCER, DATABASE_DIRECT_URL: PG });
  assert.equal(cfg.databases.station, { url: BOUNCER, directUrl: PG, pooled: true });
  assert.is(cfg.databaseDirectUrl, PG);
  assert.not.ok(cfg.pgNamedStatements, "named statements collide on a transaction pooler");
  // A PgBouncer that keeps prepared statements per client (1.21+, max_prepared_statements) may have them.
  assert.ok(loadConfig({ DATABASE_URL: BOUNCER, DATABASE_DIRECT_URL: PG, PG_NAMED_STATEMENTS: "true" }).pgNamedStatements);
});

test("a service on its own database never takes the shared direct URL, which reaches another database", () => {
  const cfg = loadConfig({ DATABASE_URL: BOUNCER, DATABASE_DIRECT_URL: PG, CREDIT_DATABASE_URL: CREDIT_BOUNCER });
  assert.equal(cfg.databases.credit, { url: CREDIT_BOUNCER, directUrl: CREDIT_BOUNCER, pooled: false });
  const both = loadConfig({ DATABASE_URL: PG, CREDIT_DATABASE_URL: CREDIT_BOUNCER, CREDIT_DATABASE_DIRECT_URL: CREDIT });
  assert.equal(both.databases.credit, { url: CREDIT_BOUNCER, directUrl: CREDIT, pooled: true });
  assert.equal(both.databases.auth, { url: PG, directUrl: PG, pooled: false });
});

test("only per-service URLs: fine when every service this process runs has one", () => {
  const cfg = loadConfig({ SERVICES: "credit,gateway", CREDIT_DATABASE_URL: CREDIT });
  assert.is(cfg.databaseUrl, undefined);
  assert.equal(cfg.databases.credit, { url: CREDIT, directUrl: CREDIT, pooled: false });
  assert.is(cfg.databases.loan, undefined);
});

test("a service left without a database is named, with the variables that would give it one", () => {
  const found = problems({ SERVICES: "credit,loan,auth", CREDIT_DATABASE_URL: CREDIT });
  assert.is(found.length, 1, found.join("; "));
  for (const needle of ["auth, loan have no database", "LOAN_DATABASE_URL", "AUTH_DATABASE_URL", "DATABASE_URL"]) assert.ok(found[0]!.includes(needle), found[0]);
});

test("production needs a database for every service it runs", () => {
  const none = problems({ NODE_ENV: "production" }).filter((p) => p.includes("DATABASE"));
  assert.equal(none.length, 1);
  assert.ok(none[0]!.startsWith("DATABASE_URL is required when NODE_ENV=production"), none[0]);
});

test("bad values: each named once, and never with the URL's password", () => {
  const found = problems({
    DATABASE_URL: "mysql://root:s3cret@db/x",
    DATABASE_DIRECT_URL: "not a url",
    CREDIT_DATABASE_URL: "postgres://u:s3cret@[bad",
    BILLING_DATABASE_URL: PG,
    FRAUD_DATABASE_DIRECT_URL: PG,
  });
  assert.equal(found.sort(), [
    "BILLING_DATABASE_URL names no service (known: AUTH, KYC, CREDIT, TRANSACTION, LOAN, PAYMENT, STATION, NOTIFICATION)",
    "CREDIT_DATABASE_URL is not a valid URL",
    "DATABASE_DIRECT_URL is not a valid URL",
    "DATABASE_URL must use postgres: or postgresql: (got mysql:)",
    "FRAUD_DATABASE_DIRECT_URL names no service (known: AUTH, KYC, CREDIT, TRANSACTION, LOAN, PAYMENT, STATION, NOTIFICATION)",
  ]);
  assert.not.ok(found.join(" ").includes("s3cret"));
});

test("a direct URL needs the pooled URL it bypasses", () => {
  assert.equal(problems({ DATABASE_DIRECT_URL: PG }), ["DATABASE_DIRECT_URL is set without DATABASE_URL (the pooled URL it bypasses)"]);
  const found = problems({ SERVICES: "loan", LOAN_DATABASE_DIRECT_URL: PG });
  assert.ok(found.some((p) => p.startsWith("LOAN_DATABASE_DIRECT_URL is set without LOAN_DATABASE_URL or DATABASE_URL")), found.join("; "));
});

test.run();
