// Whether a service's database answers, for that service's health entries: one cheap
// query every PROBE_EVERY_MS on a connection of the probe's own (a pool busy with calls
// must not read as a database that is gone), cut off after PROBE_TIMEOUT_MS. A failed
// query is tried once more at once on a fresh connection, because a connection the
// server ended (pg_terminate_backend) fails once although the database is fine. The
// state is logged when it changes, not at every failed probe. It asks the pooled URL,
// the way the service's calls go: a pooler that cannot reach the database fails there.
import type { ServiceDatabase } from "./database-config.js";
import { createPool, type Pool } from "./db.js";
import { log } from "./logger.js";

/** How often the database is asked. */
export const PROBE_EVERY_MS = 1_000;
/** How long one probe (connecting included) may take before it counts as failed. */
export const PROBE_TIMEOUT_MS = 1_000;

export class DatabaseProbe {
  private readonly pool: Pool;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private up = true;
  private downSince = 0;

  /** @param onChange told `false` when the database stops answering, `true` when it answers again. */
  constructor(database: Pick<ServiceDatabase, "url" | "pooled">, private readonly service: string, private readonly onChange: (up: boolean) => void, private readonly everyMs = PROBE_EVERY_MS) {
    this.pool = createPool({
      connectionString: database.url,
      pooled: database.pooled,
      max: 1,
      application: `${service}-probe`,
      connectTimeoutMs: PROBE_TIMEOUT_MS,
      queryTimeoutMs: PROBE_TIMEOUT_MS,
    });
    // The pool logs an idle connection's loss; the probe's own log says what matters.
    this.pool.removeAllListeners("error");
    this.pool.on("error", () => undefined);
  }

  start(): void {
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.probe().finally(() => this.schedule());
    }, this.everyMs);
    this.timer.unref();
  }

  private async probe(): Promise<void> {
    let failure: unknown;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await this.pool.query("SELECT 1");
        failure = undefined;
        break;
      } catch (err) {
        failure = err;
      }
    }
    if (this.stopped) return;
    const answers = failure === undefined;
    if (answers === this.up) return;
    this.up = answers;
    if (answers) {
      log.info({ service: this.service, downMs: Date.now() - this.downSince }, "database answers again; health SERVING");
    } else {
      this.downSince = Date.now();
      log.warn({ err: failure, service: this.service }, "database does not answer; health NOT_SERVING until it does");
    }
    this.onChange(answers);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    await this.pool.end();
  }
}
