// Entry point of the simulated payment gateway process:
//   node --import tsx dev/payment-gateway/server.ts
// Environment:
//   SIM_GATEWAY_HOST (127.0.0.1), SIM_GATEWAY_PORT (0 = any free port)
//   SIM_WEBHOOK_URL     where to post webhooks (required)
//   SIM_WEBHOOK_SECRET  HMAC secret that signs them (required)
//   SIM_WEBHOOK_MAX_ATTEMPTS (8), SIM_WEBHOOK_BASE_DELAY_MS (500), SIM_WEBHOOK_MAX_DELAY_MS (30000)
//   SIM_AUTO_COMPLETE   e.g. "succeeded:2000": complete each new payment after 2 s (demo)
// Prints one line `{"ready":true,"url":"http://…"}` on stdout once listening. Exits on
// SIGTERM/SIGINT, and when its stdin closes (the parent died).
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Simulator, type Outcome } from "./app.js";

function fail(msg: string): never {
  process.stderr.write(`simulated gateway: ${msg}\n`);
  process.exit(2);
}

function int(name: string, def: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) fail(`${name} must be an integer from ${min} to ${max}`);
  return n;
}

const webhookUrl = process.env.SIM_WEBHOOK_URL ?? "";
const webhookSecret = process.env.SIM_WEBHOOK_SECRET ?? "";
if (!/^https?:\/\//.test(webhookUrl)) fail("SIM_WEBHOOK_URL must be an http(s) URL");
if (webhookSecret.length < 16) fail("SIM_WEBHOOK_SECRET must be at least 16 characters");
const host = process.env.SIM_GATEWAY_HOST || "127.0.0.1";
const port = int("SIM_GATEWAY_PORT", 0, 0, 65535);

let autoComplete: { outcome: Outcome; afterMs: number } | null = null;
const auto = process.env.SIM_AUTO_COMPLETE ?? "";
if (auto) {
  const m = /^(succeeded|failed):(\d{1,7})$/.exec(auto);
  if (!m) fail('SIM_AUTO_COMPLETE must look like "succeeded:2000" or "failed:2000"');
  autoComplete = { outcome: m[1] as Outcome, afterMs: Number(m[2]) };
}

const server = createServer();
server.listen(port, host, () => {
  const addr = server.address() as AddressInfo;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${addr.port}`;
  const sim = new Simulator({
    publicUrl: url,
    webhookUrl,
    webhookSecret,
    maxAttempts: int("SIM_WEBHOOK_MAX_ATTEMPTS", 8, 1, 100),
    baseDelayMs: int("SIM_WEBHOOK_BASE_DELAY_MS", 500, 1, 3_600_000),
    maxDelayMs: int("SIM_WEBHOOK_MAX_DELAY_MS", 30_000, 1, 3_600_000),
    autoComplete,
    log: (msg) => process.stderr.write(`simulated gateway: ${msg}\n`),
  });
  server.on("request", sim.handler);
  const stop = () => {
    sim.close();
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.stdin.on("end", stop);
  process.stdin.on("error", stop);
  process.stdin.resume();
  process.stdout.write(`${JSON.stringify({ ready: true, url })}\n`);
});
server.on("error", (err) => fail(err.message));
