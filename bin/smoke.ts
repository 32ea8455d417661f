// End-to-end smoke test of `npm start` as a newcomer runs it: no DATABASE_URL, no
// REDIS_URL. Starts the real entry point as a child process, waits for its ready line
// (must come within 30 s), calls it over Connect JSON, then SIGTERMs it and expects a
// clean drain.
import { spawn } from "node:child_process";
import { freePort } from "./system.js";

const READY_TIMEOUT_MS = 30_000;

async function main(): Promise<void> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), DEV_INBOX_PORT: "0", METRICS_PORT: "0", LOG_LEVEL: "warn" };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  // Move the internal ports off their defaults in case something else uses them here.
  const names = ["auth", "kyc", "credit", "transaction", "loan", "payment", "station", "notification"];
  for (const n of names) env[`${n.toUpperCase()}_PORT`] = String(await freePort());

  const started = Date.now();
  const child = spawn(process.execPath, ["--import", "tsx", "bin/mesh.ts"], { env, stdio: ["ignore", "pipe", "inherit"] });
  const ready = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const line = out.split("\n").find((l) => l.includes("ready in"));
      if (line) {
        clearTimeout(timer);
        resolve(line);
      }
    });
    child.once("exit", (code) => reject(new Error(`exited with ${code} before ready`)));
  });
  console.log(`smoke: ${ready.trim()} (${Date.now() - started} ms)`);

  const base = `http://127.0.0.1:${port}`;
  const call = async (path: string, body: unknown = {}) => {
    const res = await fetch(`${base}/${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    if (!res.headers.get("x-trace-id")) throw new Error(`${path}: no x-trace-id`);
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
  const health = await call("grpc.health.v1.Health/Check");
  if (health.status !== 200 || health.json.status !== "SERVING") throw new Error(`health: ${JSON.stringify(health)}`);
  const jwks = await call("fuel.auth.v1.AuthService/GetJwks");
  if (jwks.status !== 200 || !String(jwks.json.jwksJson).includes('"kid"')) throw new Error(`jwks: ${JSON.stringify(jwks)}`);
  const otp = await call("fuel.auth.v1.AuthService/CustomerRequestOtp", { phone: "+2348000000001" });
  if (otp.status !== 200) throw new Error(`otp: ${JSON.stringify(otp)}`);
  console.log("smoke: health SERVING, JWKS published, OTP requested");

  child.kill("SIGTERM");
  const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
  if (code !== 0) throw new Error(`exit code ${code} after SIGTERM`);
  console.log("smoke: drained and exited 0 on SIGTERM");
}

main().catch((err) => {
  console.error(`smoke: FAILED: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
