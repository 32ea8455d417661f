// A pool on an empty database of a suite's own, for suites that test platform pieces on
// tables they create themselves: a fresh database on DATABASE_URL's server, else an
// embedded PGlite. `close` ends the pool and drops what was made.
import { createPool, type Pool } from "../../platform/db.js";
import { startEmbeddedPostgres } from "../../platform/embedded.js";
import { freshDatabase } from "./system.js";

export async function scratchPool(max: number): Promise<{ pool: Pool; close(): Promise<void> }> {
  const db = await freshDatabase();
  const embedded = db ? undefined : await startEmbeddedPostgres();
  const pool = createPool({ connectionString: db?.url ?? embedded!.url, max });
  return {
    pool,
    async close() {
      await pool.end();
      await db?.drop();
      await embedded?.stop();
    },
  };
}
