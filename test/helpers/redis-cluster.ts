// A real Redis Cluster of the suite's own on loopback: N masters (redis-server
// --cluster-enabled yes), joined by `redis-cli --cluster create`, no replicas. The suite
// may kill a master and start it again (it keeps its node id and slots through its
// nodes.conf, but no data: nothing is saved), without touching the shared servers.
import { execFile, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { freePort } from "../../bin/system.js";
import { exited } from "./mesh-child.js";
import { redisServerPath, spawnRedis } from "./private-infra.js";

const run = promisify(execFile);
/** How long a server or the cluster may take to come up before the helper gives up. */
const START_MS = 30_000;
const POLL_MS = 50;

export const redisCliPath = (): string | null => ["/usr/bin/redis-cli", "/usr/local/bin/redis-cli"].find((p) => existsSync(p)) ?? null;

/** Why a cluster cannot be started on this machine, or null when it can. */
export function clusterUnavailable(): string | null {
  if (!redisServerPath()) return "no redis-server";
  if (!redisCliPath()) return "no redis-cli";
  return null;
}

export class PrivateRedisCluster {
  private readonly procs = new Map<number, ChildProcess>();
  /** Each master's cluster bus port (it talks to the others there), picked free like its own. */
  private readonly busPorts = new Map<number, number>();

  private constructor(private readonly dir: string, readonly ports: number[], private readonly nodeTimeoutMs: number) {}

  /**
   * Starts `masters` servers and joins them. `nodeTimeoutMs` is cluster-node-timeout:
   * how long the others wait before they call a silent master failed (and, with no
   * replica to promote, the whole cluster down).
   */
  static async create(masters = 3, nodeTimeoutMs = 15_000): Promise<PrivateRedisCluster> {
    const why = clusterUnavailable();
    if (why) throw new Error(`cannot start a Redis Cluster: ${why}`);
    const ports: number[] = [];
    for (let i = 0; i < masters; i++) ports.push(await freePort());
    const self = new PrivateRedisCluster(mkdtempSync(join(tmpdir(), "fuel-redis-cluster-")), ports, nodeTimeoutMs);
    for (const p of ports) self.busPorts.set(p, await freePort());
    try {
      for (const p of ports) await self.start(p);
      await run(redisCliPath()!, ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "0", "--cluster-yes"], { timeout: START_MS });
      await self.waitOk();
    } catch (err) {
      await self.destroy();
      throw err;
    }
    return self;
  }

  /** `redis+cluster://` URL naming every master (what REDIS_URL takes). */
  get url(): string {
    return `redis+cluster://${this.ports.map((p) => `127.0.0.1:${p}`).join(",")}`;
  }

  /** Starts (or restarts) the master on `port` and waits until it accepts connections; no-op while it runs. */
  async start(port: number): Promise<void> {
    const running = this.procs.get(port);
    if (running && running.exitCode === null && running.signalCode === null) return;
    const p = await spawnRedis([
      "--port", String(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-port", String(this.busPorts.get(port)),
      "--cluster-config-file", join(this.dir, `nodes-${port}.conf`), "--cluster-node-timeout", String(this.nodeTimeoutMs),
      "--dir", this.dir, "--save", "", "--appendonly", "no", "--daemonize", "no",
    ], `redis-server on ${port}`);
    p.stdout!.resume();
    p.stderr!.resume();
    this.procs.set(port, p);
  }

  /** SIGKILL the master on `port`: its connections drop at once, its data is gone. */
  async kill(port: number): Promise<void> {
    const p = this.procs.get(port);
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    p.kill("SIGKILL");
    await exited(p);
    this.procs.delete(port);
  }

  /** Resolves when every live master reports cluster_state:ok. */
  async waitOk(timeoutMs = START_MS): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (const port of this.procs.keys()) {
      const c = new Redis(port, "127.0.0.1", { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on("error", () => undefined);
      try {
        await c.connect();
        for (;;) {
          if (/cluster_state:ok/.test(await c.cluster("INFO"))) break;
          if (Date.now() > until) throw new Error(`Redis Cluster on ${port}: cluster_state not ok within ${timeoutMs} ms`);
          await new Promise((r) => setTimeout(r, POLL_MS));
        }
      } finally {
        c.disconnect();
      }
    }
  }

  /** The master serving `slot`, as its port. */
  async portOfSlot(slot: number): Promise<number> {
    const c = new Redis(this.ports[0]!, "127.0.0.1");
    try {
      const ranges = await c.cluster("SLOTS");
      const master = ranges.find(([from, to]) => slot >= from && slot <= to)?.[2];
      if (!master) throw new Error(`slot ${slot} is served by no master`);
      return Number(master[1]);
    } finally {
      c.disconnect();
    }
  }

  async destroy(): Promise<void> {
    for (const port of [...this.procs.keys()]) await this.kill(port);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

