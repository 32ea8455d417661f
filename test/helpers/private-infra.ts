// A PostgreSQL cluster and a Redis server of the suite's own, for tests that break them
// (stop, kill, cut connections) without disturbing the shared servers other suites use;
// and the whole mesh (bin/mesh.ts: every service and the gateway) as a child process on
// them, so that a crash of the mesh is seen as a crash.
//
// PostgreSQL: Debian's binaries (initdb, pg_ctl), a temporary data directory, trust
// auth, fsync off. initdb and pg_ctl refuse to run as root, so as root they run as the
// `postgres` user, who then owns the data directory.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { freePort } from "../../bin/system.js";
import { loadConfig, SERVICE_NAMES, type Config } from "../../platform/config.js";
import { exited, startMesh, type LogLine } from "./mesh-child.js";

const run = promisify(execFile);
/** application_name of the test's own connections. */
const TEST_APPLICATION = "fault-test";
/** How long a server may take to start or stop before the helper gives up. */
const START_MS = 30_000;

/** The newest Debian PostgreSQL binaries directory, or null when there is none. */
export function postgresBinDir(): string | null {
  const base = "/usr/lib/postgresql";
  if (!existsSync(base)) return null;
  const versions = readdirSync(base).filter((v) => existsSync(join(base, v, "bin", "initdb"))).sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(base, versions[0], "bin") : null;
}

export const redisServerPath = (): string | null => ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].find((p) => existsSync(p)) ?? null;

/** Starts redis-server with `args` and resolves once it accepts connections; `what` names it in errors. */
export async function spawnRedis(args: string[], what: string): Promise<ChildProcess> {
  const bin = redisServerPath();
  if (!bin) throw new Error("no redis-server");
  const p = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start`)), START_MS);
    p.stdout!.on("data", (c: Buffer) => {
      if (c.toString().includes("Ready to accept connections")) {
        clearTimeout(timer);
        resolve();
      }
    });
    p.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited ${code}`));
    });
  });
  return p;
}

const isRoot = () => process.getuid?.() === 0;

/** Runs a PostgreSQL binary, as the postgres user when we are root. */
async function asPostgres(bin: string, args: string[]): Promise<string> {
  const [cmd, argv] = isRoot() ? ["runuser", ["-u", "postgres", "--", bin, ...args]] : [bin, args];
  const { stdout } = await run(cmd, argv, { timeout: START_MS });
  return stdout;
}

export class PrivatePostgres {
  private constructor(private readonly bin: string, private readonly dir: string, readonly port: number) {}

  /** `postgres` database of this cluster. */
  get url(): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/postgres`;
  }

  static async create(): Promise<PrivatePostgres> {
    const bin = postgresBinDir();
    if (!bin) throw new Error("no PostgreSQL binaries under /usr/lib/postgresql");
    const dir = mkdtempSync(join(tmpdir(), "fuel-faults-pg-"));
    if (isRoot()) {
      const { stdout } = await run("id", ["-u", "postgres"]);
      const { stdout: gid } = await run("id", ["-g", "postgres"]);
      chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
    }
    await asPostgres(join(bin, "initdb"), ["-D", join(dir, "data"), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"]);
    const self = new PrivatePostgres(bin, dir, await freePort());
    await self.start();
    return self;
  }

  /** Starts the cluster and waits until it accepts connections. */
  async start(): Promise<void> {
    const opts = [
      `-p ${this.port}`, "-c listen_addresses=127.0.0.1", `-c unix_socket_directories=${this.dir}`,
      "-c fsync=off", "-c full_page_writes=off", "-c max_connections=200",
    ].join(" ");
    await asPostgres(join(this.bin, "pg_ctl"), ["-D", join(this.dir, "data"), "-l", join(this.dir, "log"), "-o", opts, "-w", "-t", "30", "start"]);
  }

  /** Stops the cluster: `immediate` is a crash as far as clients can tell (no goodbye). */
  async stop(mode: "immediate" | "fast" = "immediate"): Promise<void> {
    await asPostgres(join(this.bin, "pg_ctl"), ["-D", join(this.dir, "data"), "-m", mode, "-w", "-t", "30", "stop"]);
  }

  /** A client of the test itself: named so that terminateBackends spares it. */
  client(): pg.Client {
    const c = new pg.Client({ connectionString: this.url, application_name: TEST_APPLICATION });
    c.on("error", () => undefined); // a stopped cluster ends it; the test's next query says so
    return c;
  }

  /**
   * pg_terminate_backend on every client backend of the cluster but the test's own:
   * every connection of the mesh, pooled, listening or probing. Returns how many.
   */
  async terminateBackends(): Promise<number> {
    const c = this.client();
    await c.connect();
    try {
      const r = await c.query(
        `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
          WHERE backend_type = 'client backend' AND application_name <> $1`,
        [TEST_APPLICATION],
      );
      return r.rows[0].n as number;
    } finally {
      await c.end();
    }
  }

  async destroy(): Promise<void> {
    await this.stop("immediate").catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export class PrivateRedis {
  proc: ChildProcess | null = null;
  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async create(): Promise<PrivateRedis> {
    const self = new PrivateRedis(await freePort());
    await self.start();
    return self;
  }

  /** Starts an empty server (nothing is saved, so a restart starts empty too). */
  async start(): Promise<void> {
    const p = await spawnRedis(["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"], "redis-server");
    p.stdout!.resume();
    this.proc = p;
  }

  /** SIGKILL: connections drop at once, and everything it held is gone. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    p.kill("SIGKILL");
    await exited(p);
    this.proc = null;
  }
}

/** The mesh in a child process on private servers; logs at warn and above are kept. */
export class MeshChild {
  proc: ChildProcess | null = null;
  /** performance.now() when the child printed its ready line. */
  readyAt = 0;
  /** Every JSON log line the child wrote. */
  readonly logs: LogLine[] = [];
  /** What the child wrote to stderr (an uncaught error's trace lands here). */
  stderr = "";
  readonly cfg: Config;
  private readonly env: Record<string, string>;

  private constructor(env: Record<string, string>) {
    this.env = env;
    this.cfg = loadConfig(env);
  }

  /** Ports and secrets fixed now, so the test knows every address before the child starts. */
  static async create(databaseUrl: string, redisUrl: string, env: Record<string, string> = {}): Promise<MeshChild> {
    const full: Record<string, string> = {
      PATH: process.env.PATH ?? "",
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      PORT: String(await freePort()),
      DEV_INBOX_PORT: "0",
      LOG_LEVEL: "warn",
      MESH_SECRET: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64"),
      ...env,
    };
    for (const s of SERVICE_NAMES) full[`${s.toUpperCase()}_PORT`] = String(await freePort());
    return new MeshChild(full);
  }

  get gatewayUrl(): string {
    return `http://127.0.0.1:${this.cfg.gatewayPort}`;
  }

  get databaseUrl(): string {
    return this.env.DATABASE_URL!;
  }

  async start(): Promise<void> {
    const { proc, readyAt } = await startMesh(this.env, (line) => this.logs.push(line));
    proc.stderr!.on("data", (c: Buffer) => (this.stderr = (this.stderr + c.toString()).slice(-20_000)));
    this.readyAt = readyAt;
    this.proc = proc;
  }

  /** True while the child process runs. */
  get alive(): boolean {
    const p = this.proc;
    return !!p && p.exitCode === null && p.signalCode === null;
  }

  /** SIGTERM (a drain); resolves with the exit code once the process is gone. */
  async terminate(): Promise<number | null> {
    const p = this.proc;
    if (!p || !this.alive) return p?.exitCode ?? null;
    p.kill("SIGTERM");
    await exited(p);
    return p.exitCode;
  }

  async kill(): Promise<void> {
    if (!this.alive) return;
    this.proc!.kill("SIGKILL");
    await exited(this.proc!);
  }
}
