// One service in a child process of its own (bin/mesh.ts with SERVICES=<name>), joined to a
// suite's system: it uses the suite's database and Redis and reaches the other services
// where the suite runs them, as a replica on another host would. For suites that kill it,
// cut what it depends on, or run several of it.
import type { ChildProcess } from "node:child_process";
import { SERVICE_NAMES, type ServiceName } from "../../platform/config.js";
import { exited, startMesh, type LogLine } from "./mesh-child.js";
import type { TestSystem } from "./system.js";

export interface ServiceChildOptions {
  /** The address it listens on (HOST); the platform's default when unset. */
  host?: string;
  /** REDIS_URL it gets; the suite's own by default. */
  redisUrl?: string;
  /** Settings every start of it gets (a start's own `env` comes on top). */
  env?: Record<string, string>;
}

export class ServiceChild {
  proc: ChildProcess | null = null;
  /** performance.now() when the child printed its ready line. */
  readyAt = 0;
  private listeners: Array<(l: LogLine) => void> = [];

  constructor(
    readonly service: ServiceName,
    private readonly sys: TestSystem,
    readonly port: number,
    private readonly opts: ServiceChildOptions = {},
  ) {}

  /**
   * Starts the child with the platform's defaults (deadlines included) plus `env`;
   * resolves when it serves. Its JSON log lines (warn and above unless LOG_LEVEL says
   * otherwise) reach `onLog` listeners.
   */
  async start(env: Record<string, string> = {}): Promise<ChildProcess> {
    const full: Record<string, string> = {
      PATH: process.env.PATH ?? "",
      SERVICES: this.service,
      [`${this.service.toUpperCase()}_PORT`]: String(this.port),
      DATABASE_URL: this.sys.databaseUrl,
      MESH_SECRET: Buffer.from(this.sys.cfg.meshSecret).toString("base64"),
      DEV_INBOX_PORT: "-1",
      LOG_LEVEL: "warn",
      ...this.opts.env,
      ...env,
    };
    if (this.opts.host) full.HOST = this.opts.host;
    const redisUrl = this.opts.redisUrl ?? process.env.REDIS_URL;
    if (redisUrl) full.REDIS_URL = redisUrl;
    for (const s of SERVICE_NAMES) if (s !== this.service) full[`${s.toUpperCase()}_URL`] = this.sys.cfg.urls[s];
    const { proc, readyAt } = await startMesh(full, (line) => {
      for (const l of this.listeners) l(line);
    });
    this.readyAt = readyAt;
    this.proc = proc;
    return proc;
  }

  /** Calls `fn` with every log line from now on; returns the function that stops it. */
  onLog(fn: (l: LogLine) => void): () => void {
    this.listeners.push(fn);
    return () => {
      this.listeners = this.listeners.filter((x) => x !== fn);
    };
  }

  /** Resolves when `n` log lines match `pred` (counting from now); rejects after `timeoutMs`. */
  waitForLogs(pred: (l: LogLine) => boolean, n: number, timeoutMs = 15_000): Promise<LogLine[]> {
    return new Promise((resolve, reject) => {
      const seen: LogLine[] = [];
      const timer = setTimeout(() => {
        stop();
        reject(new Error(`saw ${seen.length} of ${n} expected log lines in ${timeoutMs} ms`));
      }, timeoutMs);
      const stop = this.onLog((l) => {
        if (!pred(l)) return;
        seen.push(l);
        if (seen.length < n) return;
        clearTimeout(timer);
        stop();
        resolve(seen);
      });
    });
  }

  /** Whether the child is running. */
  get alive(): boolean {
    const p = this.proc;
    return !!p && p.exitCode === null && p.signalCode === null;
  }

  /** Kills the child now (SIGKILL) and waits for it to be gone. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || !this.alive) return;
    p.kill("SIGKILL");
    await exited(p);
  }

  /** Stops the child gracefully (suite teardown). */
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || !this.alive) return;
    p.kill("SIGTERM");
    await exited(p);
  }
}
