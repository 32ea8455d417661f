// A PgBouncer of the test's own in transaction mode (Debian's `pgbouncer`) in front of
// a real PostgreSQL server: every database of the server under its own name, trust auth
// for the server URL's user, its own port. PgBouncer refuses to run as root, so as root
// it drops to the `postgres` user (`-u`), who then owns its directory.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { freePort } from "../../bin/system.js";

const run = promisify(execFile);
/** How long PgBouncer may take to accept connections. */
const START_MS = 10_000;

/** Debian's pgbouncer binary, or null when the package is not installed. */
export const pgbouncerPath = (): string | null => ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer", "/usr/local/bin/pgbouncer"].find((p) => existsSync(p)) ?? null;

export interface PgBouncerOptions {
  /** Server connections per database and user (PgBouncer's default_pool_size). */
  poolSize?: number;
  /** Client connections PgBouncer accepts in all. */
  maxClients?: number;
}

export class PgBouncer {
  private constructor(
    private readonly proc: ChildProcess,
    private readonly dir: string,
    readonly port: number,
    /** The server URL's user: PgBouncer's admin, and the user it logs in as. */
    private readonly user: string,
    private readonly log: () => string,
  ) {}

  /** Starts PgBouncer in front of the server of `serverUrl` and waits until it answers. */
  static async start(serverUrl: string, opts: PgBouncerOptions = {}): Promise<PgBouncer> {
    const bin = pgbouncerPath();
    if (!bin) throw new Error("pgbouncer is not installed (Debian package pgbouncer)");
    const server = new URL(serverUrl);
    const user = decodeURIComponent(server.username || "postgres");
    const password = decodeURIComponent(server.password);
    const dir = mkdtempSync(join(tmpdir(), "fuel-pgbouncer-"));
    const port = await freePort();
    const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;
    // PgBouncer logs in to the server with the password of its auth file.
    writeFileSync(join(dir, "users.txt"), `${quote(user)} ${quote(password)}\n`);
    writeFileSync(join(dir, "pgbouncer.ini"), [
      "[databases]",
      `* = host=${server.hostname} port=${server.port || 5432}`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      "unix_socket_dir =",
      "auth_type = trust",
      `auth_file = ${join(dir, "users.txt")}`,
      `admin_users = ${user}`,
      "pool_mode = transaction",
      `default_pool_size = ${opts.poolSize ?? 20}`,
      `max_client_conn = ${opts.maxClients ?? 1000}`,
      "",
    ].join("\n"));
    const args = [join(dir, "pgbouncer.ini")];
    if (process.getuid?.() === 0) {
      const { stdout: uid } = await run("id", ["-u", "postgres"]);
      const { stdout: gid } = await run("id", ["-g", "postgres"]);
      chownSync(dir, Number(uid.trim()), Number(gid.trim()));
      for (const f of ["users.txt", "pgbouncer.ini"]) chownSync(join(dir, f), Number(uid.trim()), Number(gid.trim()));
      args.unshift("-u", "postgres");
    }
    const proc = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    proc.stderr!.on("data", (c: Buffer) => (log = (log + c.toString()).slice(-8000)));
    const bouncer = new PgBouncer(proc, dir, port, user, () => log);
    try {
      await bouncer.ready(user);
    } catch (err) {
      await bouncer.stop();
      throw err;
    }
    return bouncer;
  }

  /** The URL of `databaseUrl`'s database (on the fronted server) through this PgBouncer. */
  url(databaseUrl: string): string {
    const u = new URL(databaseUrl);
    u.hostname = "127.0.0.1";
    u.port = String(this.port);
    return u.toString();
  }

  /**
   * PgBouncer's counters for one database (its admin console, SHOW STATS): transactions
   * and queries it has passed to the server since it started.
   */
  async stats(database: string): Promise<{ transactions: bigint; queries: bigint }> {
    const rows = await this.console<{ database: string; total_xact_count: string; total_query_count: string }>("SHOW STATS");
    const row = rows.find((x) => x.database === database);
    return { transactions: BigInt(row?.total_xact_count ?? 0), queries: BigInt(row?.total_query_count ?? 0) };
  }

  /** How many server sessions PgBouncer holds open to `database` (SHOW SERVERS). */
  async servers(database: string): Promise<number> {
    const rows = await this.console<{ database: string }>("SHOW SERVERS");
    return rows.filter((r) => r.database === database).length;
  }

  /** application_name of each client PgBouncer holds for `database` (SHOW CLIENTS). */
  async clients(database: string): Promise<string[]> {
    const rows = await this.console<{ database: string; application_name: string }>("SHOW CLIENTS");
    return rows.filter((r) => r.database === database).map((r) => r.application_name);
  }

  /**
   * RECONNECT on the admin console: PgBouncer closes its server sessions of `database` as
   * they are released, so a setting changed on the server (ALTER … SET) reaches every
   * session it opens from then on.
   */
  async reconnect(database: string): Promise<void> {
    await this.console(`RECONNECT ${database}`);
  }

  /** One command on the admin console, which speaks only the simple query protocol (no parameters). */
  private async console<R extends pg.QueryResultRow>(command: string): Promise<R[]> {
    const c = new pg.Client({ host: "127.0.0.1", port: this.port, database: "pgbouncer", user: this.user });
    await c.connect();
    try {
      return (await c.query<R>(command)).rows;
    } finally {
      await c.end();
    }
  }

  private async ready(user: string): Promise<void> {
    const end = Date.now() + START_MS;
    for (;;) {
      if (this.proc.exitCode !== null) throw new Error(`pgbouncer exited ${this.proc.exitCode}: ${this.log()}`);
      const c = new pg.Client({ host: "127.0.0.1", port: this.port, database: "pgbouncer", user });
      c.on("error", () => undefined);
      try {
        await c.connect();
        await c.query("SHOW VERSION");
        return;
      } catch (err) {
        if (Date.now() > end) throw new Error(`pgbouncer did not answer in ${START_MS} ms: ${(err as Error).message}\n${this.log()}`);
        await new Promise((r) => setTimeout(r, 50));
      } finally {
        await c.end().catch(() => undefined);
      }
    }
  }

  /** Stops PgBouncer (SIGTERM: it closes every connection at once) and removes its directory. */
  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      const exited = new Promise((r) => this.proc.once("exit", r));
      this.proc.kill("SIGTERM");
      const timer = setTimeout(() => this.proc.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
