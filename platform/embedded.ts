// Embedded defaults for a machine with nothing but Node: PGlite served over the
// Postgres wire protocol (so the same `pg` code talks to it), and an in-process store in
// place of Redis. PGlite runs one session; platform/pglite-server.ts makes connections
// take turns by whole batches and whole transactions.
import { servePglite } from "./pglite-server.js";

export interface EmbeddedPostgres {
  url: string;
  stop(): Promise<void>;
}

/** Starts PGlite (in memory unless `dataDir`) on a loopback port; 0 = any free port. */
export async function startEmbeddedPostgres(port = 0, dataDir?: string): Promise<EmbeddedPostgres> {
  // Loaded only here: a process with a real DATABASE_URL never carries PGlite.
  const [{ PGlite }, { cube }, { earthdistance }] = await Promise.all([
    import("@electric-sql/pglite"),
    import("@electric-sql/pglite/contrib/cube"),
    import("@electric-sql/pglite/contrib/earthdistance"),
  ]);
  const db = await PGlite.create(dataDir, { extensions: { cube, earthdistance } });
  const server = await servePglite(db, port);
  return {
    url: `postgresql://postgres:postgres@127.0.0.1:${server.port}/postgres?sslmode=disable`,
    async stop() {
      await server.close();
      await db.close();
    },
  };
}
