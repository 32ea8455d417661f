// A fresh, empty database on the server named by DATABASE_URL, for a run that must not
// touch anyone's data: the demo, each test suite, each bench run.
import { randomBytes } from "node:crypto";
import pg from "pg";

/** Creates an empty database on the server named by DATABASE_URL; returns its URL and a dropper. */
export async function freshDatabase(): Promise<{ name: string; url: string; drop(): Promise<void> } | null> {
  const base = process.env.DATABASE_URL;
  if (!base) return null;
  const name = `fuel_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
