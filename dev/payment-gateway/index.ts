// Starts the simulated payment gateway as a real separate process (server.ts), the way
// bin/system.ts runs it when no PAYMENT_GATEWAY_URL is configured. It accepts payments
// over HTTP and later posts signed webhooks to `webhookUrl`, like a real gateway.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export interface SimulatedGateway {
  /** Base URL of the gateway's API. */
  url: string;
  close(): Promise<void>;
}

export interface SimulatedGatewayOptions {
  webhookUrl: string;
  webhookSecret: string;
  host?: string;
  port?: number;
  /** Complete each new payment automatically, e.g. "succeeded:2000" (default: env PAYMENT_SIMULATOR_AUTO_COMPLETE). */
  autoComplete?: string;
  /** Webhook retry schedule (defaults: 8 attempts, 500 ms doubling, capped at 30 s). */
  webhookMaxAttempts?: number;
  webhookBaseDelayMs?: number;
  startTimeoutMs?: number;
}

const SERVER = fileURLToPath(new URL("./server.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export async function startSimulatedGateway(opts: SimulatedGatewayOptions): Promise<SimulatedGateway> {
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    SIM_GATEWAY_HOST: opts.host ?? "127.0.0.1",
    SIM_GATEWAY_PORT: String(opts.port ?? 0),
    SIM_WEBHOOK_URL: opts.webhookUrl,
    SIM_WEBHOOK_SECRET: opts.webhookSecret,
    SIM_AUTO_COMPLETE: opts.autoComplete ?? process.env.PAYMENT_SIMULATOR_AUTO_COMPLETE ?? "",
  };
  if (opts.webhookMaxAttempts) env.SIM_WEBHOOK_MAX_ATTEMPTS = String(opts.webhookMaxAttempts);
  if (opts.webhookBaseDelayMs) env.SIM_WEBHOOK_BASE_DELAY_MS = String(opts.webhookBaseDelayMs);
  // Not the parent's tracing or preload hooks: the simulator is an outside system.
  delete env.NODE_OPTIONS;
  const child = spawn(process.execPath, ["--import", "tsx", SERVER], { cwd: ROOT, env, stdio: ["pipe", "pipe", "inherit"] });
  const url = await waitReady(child, opts.startTimeoutMs ?? 30_000);
  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= stop(child);
      return closing;
    },
  };
}

function waitReady(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`simulated payment gateway did not start within ${timeoutMs} ms`));
    }, timeoutMs);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`simulated payment gateway exited during start (code ${code})`));
    };
    child.once("exit", onExit);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    lines.on("line", (line) => {
      try {
        const msg = JSON.parse(line) as { ready?: boolean; url?: string };
        if (msg.ready && msg.url) {
          clearTimeout(timer);
          child.off("exit", onExit);
          resolve(msg.url);
        }
      } catch {
        // not the ready line
      }
    });
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
  await exited;
  clearTimeout(timer);
  child.stdin?.destroy();
}
