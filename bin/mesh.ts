// `npm start`: runs the services named by SERVICES (default: all of them and the gateway)
// in this process, on embedded defaults unless DATABASE_URL / REDIS_URL are set.
import { ConfigError, loadConfig } from "../platform/config.js";
import { log } from "../platform/logger.js";
import { stopTracing } from "../platform/tracing.js";
import { startSystem } from "./system.js";

async function main(): Promise<void> {
  const startedAt = performance.now();
  let cfg;
  try {
    cfg = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
  let system;
  try {
    system = await startSystem(cfg);
  } catch (err) {
    // A service's own settings (its context.ts) are checked as it starts.
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
  const inbox = system.devInbox;

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "draining");
    // The promise is an exit within DRAIN_TIMEOUT_MS of the signal, whatever still runs.
    setTimeout(() => {
      log.warn({ drainTimeoutMs: cfg.drainTimeoutMs }, "drain did not finish in time; exiting");
      process.exit(1);
    }, cfg.drainTimeoutMs).unref();
    await system.stop();
    await stopTracing();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));

  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
  const where = system.gateway ? system.gateway.url : Object.values(system.services).map((s) => `${s.name}=${s.url}`).join(" ");
  const inboxNote = inbox ? ` · dev inbox ${inbox.webUrl}` : "";
  process.stdout.write(`fuel clearinghouse ready in ${seconds}s at ${where}${inboxNote}\n`);
}

main().catch((err) => {
  log.fatal({ err }, "failed to start");
  process.exit(1);
});
