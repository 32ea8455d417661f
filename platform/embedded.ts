// Embedded defaults for a machine with nothing but Node: PGlite served over the
// Postgres wire protocol (so the same `pg` code talks to it), and an in-process store in
// place of Redis. PGlite runs one session at a time, so pools against it use one client.
import { PGlite } from "@electric-sql/pglite";
import { cube } from "@electric-sql/pglite/contrib/cube";
import { earthdistance } from "@electric-sql/pglite/contrib/earthdistance";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

export interface EmbeddedPostgres {
  url: string;
  stop(): Promise<void>;
}

/** Starts PGlite (in memory unless `dataDir`) on a loopback port; 0 = any free port. */
export async function startEmbeddedPostgres(port = 0, dataDir?: string): Promise<EmbeddedPostgres> {
  const db = await PGlite.create(dataDir, { extensions: { cube, earthdistance } });
  const chosen = port === 0 ? await freePort() : port;
  const server = new PGLiteSocketServer({ db, port: chosen, host: "127.0.0.1", maxConnections: 64 });
  await server.start();
  return {
    url: `postgresql://postgres:postgres@127.0.0.1:${chosen}/postgres?sslmode=disable`,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}

async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return await new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      s.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}
