// Schema migrations with node-pg-migrate. Each service owns one Postgres schema and its
// own folder of SQL migrations (`migrations/<service>/`); they are applied at start under
// node-pg-migrate's advisory lock, so replicas starting together apply them once. That
// lock and the search_path node-pg-migrate sets belong to a session, so `databaseUrl` is
// a service's direct URL: through a pooler in transaction mode each statement may run on
// another server session, and the lock would guard nothing.
import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";
import { runner } from "node-pg-migrate";
import { log } from "./logger.js";

const MIGRATIONS_ROOT = fileURLToPath(new URL("../migrations/", import.meta.url));

export function migrationsDir(service: string): string {
  return `${MIGRATIONS_ROOT}${service}`;
}

/** Applies `service`'s pending migrations; `databaseUrl` must reach PostgreSQL directly. */
export async function migrate(databaseUrl: string, service: string): Promise<string[]> {
  const dir = migrationsDir(service);
  if (!existsSync(dir)) return [];
  const ran = await runner({
    databaseUrl,
    dir,
    direction: "up",
    schema: service,
    createSchema: true,
    migrationsSchema: service,
    createMigrationsSchema: true,
    migrationsTable: "pgmigrations",
    checkOrder: true,
    singleTransaction: true,
    advisoryLockMode: "wait",
    log: () => undefined,
    logger: { debug: () => undefined, info: () => undefined, warn: (m: string) => log.warn(m), error: (m: string) => log.error(m) },
  } as Parameters<typeof runner>[0]);
  return ran.map((m) => m.name);
}
