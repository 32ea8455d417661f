// TransactionService in a child process of its own (bin/mesh.ts with SERVICES=transaction),
// for the suites that kill it (transaction-crash) or cut its Redis (transaction-redis). The
// rest of the system runs in the test process and reaches the child at a fixed address, as
// it would reach a replica on another host; the child uses the suite's database and Redis.
import type { ChildProcess } from "node:child_process";
import { freePort } from "../../bin/system.js";
import { SERVICE_NAMES } from "../../platform/config.js";
import { exited, startMesh, type LogLine } from "./mesh-child.js";
import { startTestSystem, type TestSystem } from "./system.js";

/** The system without TransactionService, which is expected at `port` (the child's). */
export async function systemAroundChild(): Promise<{ sys: TestSystem; port: number }> {
  const port = await freePort();
  const sys = await startTestSystem({
    services: SERVICE_NAMES.filter((s) => s !== "transaction"),
    mutate: (cfg) => {
      cfg.ports.transaction = port;
      cfg.urls.transaction = `http://127.0.0.1:${port}`;
    },
  });
  return { sys, port };
}

export class TransactionChild {
  proc: ChildProcess | null = null;
  /** performance.now() when the child printed its ready line. */
  readyAt = 0;
  private listeners: Array<(l: LogLine) => void> = [];

  constructor(private readonly sys: TestSystem, private readonly port: number, private readonly redisUrl = process.env.REDIS_URL) {}

  /**
   * Starts the child with the platform's defaults (deadlines included) plus `env`;
   * resolves when it serves. Logs at warn and above reach `onLog` listeners.
   */
  async start(env: Record<string, string> = {}): Promise<ChildProcess> {
    const full: Record<string, string> = {
      PATH: process.env.PATH ?? "",
      SERVICES: "transaction",
      TRANSACTION_PORT: String(this.port),
      DATABASE_URL: this.sys.databaseUrl,
      MESH_SECRET: Buffer.from(this.sys.cfg.meshSecret).toString("base64"),
      DEV_INBOX_PORT: "-1",
      LOG_LEVEL: "warn",
      // Sales need a QR each, and these suites make more than a driver may issue a minute.
      TRANSACTION_QR_PER_MINUTE: "10000",
      ...env,
    };
    if (this.redisUrl) full.REDIS_URL = this.redisUrl;
    for (const s of SERVICE_NAMES) if (s !== "transaction") full[`${s.toUpperCase()}_URL`] = this.sys.cfg.urls[s];
    const { proc, readyAt } = await startMesh(full, (line) => {
      for (const l of this.listeners) l(line);
    });
    this.readyAt = readyAt;
    this.proc = proc;
    return proc;
  }

  /** Resolves when `n` log lines match `pred` (counting from now); rejects after `timeoutMs`. */
  waitForLogs(pred: (l: LogLine) => boolean, n: number, timeoutMs = 15_000): Promise<LogLine[]> {
    return new Promise((resolve, reject) => {
      const seen: LogLine[] = [];
      const timer = setTimeout(() => {
        this.listeners = this.listeners.filter((x) => x !== listen);
        reject(new Error(`saw ${seen.length} of ${n} expected log lines in ${timeoutMs} ms`));
      }, timeoutMs);
      const listen = (l: LogLine) => {
        if (!pred(l)) return;
        seen.push(l);
        if (seen.length < n) return;
        clearTimeout(timer);
        this.listeners = this.listeners.filter((x) => x !== listen);
        resolve(seen);
      };
      this.listeners.push(listen);
    });
  }

  /** Kills the child now (SIGKILL) and waits for it to be gone. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    p.kill("SIGKILL");
    await exited(p);
  }

  /** Stops the child gracefully (suite teardown). */
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    p.kill("SIGTERM");
    await exited(p);
  }
}
