// The mesh under test runs as `npm start` does — every service and the gateway in one
// child process — so the load generator (this process) neither shares its event loop
// nor counts in its memory. The child gets a fresh database on the configured server,
// fixed free ports and secrets this process also knows, so seeding and token minting
// here reach the same system.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { loadConfig, SERVICE_NAMES, type Config } from "../platform/config.js";
import { freePort, meshReady } from "../bin/system.js";
import { freshDatabase } from "../test/helpers/system.js";

export interface MeshProcess {
  cfg: Config;
  databaseUrl: string;
  gatewayUrl: string;
  pid: number;
  /** The mesh's database, by name (for pg_stat_database). */
  databaseName: string;
  /** Where the mesh serves its PostgreSQL wire counts (bench/pg-wire-counters.ts). */
  wireCountersPort: number;
  /** Resident memory now and at its peak (VmRSS, VmHWM), in MiB. */
  memoryMb(): { rss: number; peak: number };
  /** CPU time the process has used so far (user + system, all threads), in ms. */
  cpuMs(): number;
  stop(): Promise<void>;
}

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const START_TIMEOUT_MS = 60_000;

export async function startMeshProcess(extraEnv: Record<string, string>): Promise<MeshProcess> {
  const db = await freshDatabase();
  if (!db) throw new Error("the bench needs DATABASE_URL (a PostgreSQL server it may create databases on)");
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    DATABASE_URL: db.url,
    LOG_LEVEL: "error",
    MESH_SECRET: randomBytes(32).toString("base64"),
    OTP_HMAC_KEY: randomBytes(32).toString("base64"),
    PII_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    PORT: String(await freePort()),
    DEV_INBOX_PORT: "0",
    // Every port of the bench's mesh is a free one: a running `npm start` holds the defaults.
    METRICS_PORT: "0",
    BENCH_PG_COUNTERS_PORT: String(await freePort()),
    ...extraEnv,
  };
  if (process.env.REDIS_URL) env.REDIS_URL = process.env.REDIS_URL;
  for (const s of SERVICE_NAMES) env[`${s.toUpperCase()}_PORT`] = String(await freePort());
  const cfg = loadConfig(env);

  // BENCH_MESH_NODE_ARGS: extra node flags for the mesh (e.g. --cpu-prof to profile it).
  const nodeArgs = (process.env.BENCH_MESH_NODE_ARGS ?? "").split(" ").filter(Boolean);
  // Started exactly as `npm start` starts it, with its heap flags read from package.json,
  // and with the PostgreSQL wire counters loaded (they only count).
  const counters = fileURLToPath(new URL("./pg-wire-counters.ts", import.meta.url));
  const child = spawn(process.execPath, [...startFlags(), ...nodeArgs, "--import", "tsx", "--import", counters, "bin/mesh.ts"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  // BENCH_MESH_LOG: a file to copy the mesh's output to (with --trace-gc, say).
  if (process.env.BENCH_MESH_LOG) {
    const out = createWriteStream(process.env.BENCH_MESH_LOG);
    child.stdout!.pipe(out);
    child.stderr!.pipe(out);
  }
  await meshReady(child, START_TIMEOUT_MS);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await gone;
      clearTimeout(timer);
    }
    await db.drop();
  };
  return {
    cfg,
    databaseUrl: db.url,
    gatewayUrl: `http://127.0.0.1:${cfg.gatewayPort}`,
    pid: child.pid!,
    databaseName: db.name,
    wireCountersPort: Number(env.BENCH_PG_COUNTERS_PORT),
    memoryMb: () => memoryOf(child.pid!),
    cpuMs: () => cpuOf(child.pid!),
    stop,
  };
}

/** The node flags `npm start` gives the mesh (package.json `scripts.start`, before `--import`). */
function startFlags(): string[] {
  const start: string = JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")).scripts.start;
  // The script may run other steps first (the console's build): the flags are the mesh's own.
  const mesh = start.split("&&").map((c) => c.trim()).find((c) => c.endsWith("bin/mesh.ts"));
  const words = mesh?.split(/\s+/) ?? [];
  const flags = words.slice(1, words.indexOf("--import"));
  if (words[0] !== "node" || flags.length === 0 || flags.some((f) => !f.startsWith("--"))) {
    throw new Error(`cannot read the mesh's node flags from the start script: ${start}`);
  }
  return flags;
}

/** CPU time (user + system, in ms) of each process on this host whose command name starts with `prefix`, by pid. */
function cpuByPid(prefix: string): Map<string, number> {
  const out = new Map<string, number>();
  let pids: string[] = [];
  try {
    pids = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      if (comm.startsWith(prefix)) out.set(pid, cpuMsOfStat(stat));
    } catch {
      // gone between listing and reading
    }
  }
  return out;
}

/**
 * A meter of the CPU time used by every process on this host named `prefix*` —
 * "postgres" for the server and its backends — from /proc (Linux; 0 elsewhere, and for a
 * server on another host). `since()` is the CPU used since the meter was made: each
 * process counts what it used after the first reading, and a process that started in
 * between all of its own. A process that exits in between takes its time with it (the
 * baseline's backends, closed at its end), so the figure can only be low, never negative.
 */
export function cpuMeter(prefix: string): { since(): number } {
  const first = cpuByPid(prefix);
  return {
    since() {
      let total = 0;
      for (const [pid, ms] of cpuByPid(prefix)) total += ms - (first.get(pid) ?? 0);
      return total;
    },
  };
}

/**
 * A meter of the CPU time used by the PostgreSQL backends serving one database — the
 * sessions `pids()` lists when asked (from pg_stat_activity) — read from /proc (Linux;
 * 0 elsewhere). Unlike `cpuMeter("postgres")` it leaves out the server's other databases,
 * which on a shared machine are other people's work; it also leaves out the server's
 * own background processes (WAL writer, checkpointer), and a backend that exits in
 * between takes its time with it.
 */
export async function backendCpuMeter(pids: () => Promise<number[]>): Promise<{ since(): Promise<number> }> {
  const first = new Map((await pids()).map((pid) => [pid, cpuOf(pid)]));
  return {
    async since() {
      let total = 0;
      for (const pid of await pids()) total += cpuOf(pid) - (first.get(pid) ?? 0);
      return total;
    },
  };
}

/** From /proc (Linux); zeros elsewhere. */
function memoryOf(pid: number): { rss: number; peak: number } {
  let status = "";
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return { rss: 0, peak: 0 };
  }
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
  return { rss: Math.round(kb("VmRSS") / 1024), peak: Math.round(kb("VmHWM") / 1024) };
}

/**
 * utime + stime from /proc/<pid>/stat (Linux; 0 elsewhere), in ms. Clock ticks are
 * 100 per second on Linux for this interface (USER_HZ), so the resolution is 10 ms.
 */
function cpuOf(pid: number): number {
  try {
    return cpuMsOfStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return 0;
  }
}

/** utime + stime of a /proc/<pid>/stat line, in ms (USER_HZ is 100 on Linux). */
function cpuMsOfStat(stat: string): number {
  // Fields after the parenthesised command name, which may itself hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
