// docker-compose.yml and the Dockerfile, checked without a Docker engine: each container's
// environment is resolved as `docker compose` resolves it (YAML merge keys, `${…}` from
// .env.example, the documented development values) and must get past start-up's checks
// in production mode (platform/config.ts: every required secret and URL; then each
// service's own settings, the payment webhook secrets among them,
// test/helpers/container-env.ts); the
// replicated services must be reachable by their service name, which resolves to every
// replica, and hold no host port; the documents volume must be mounted where KycService
// stores documents, and that directory must exist in the image owned by the user the
// image runs as, so a named volume created from it is writable.
import { readFileSync } from "node:fs";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { parse } from "yaml";
import { DEFAULT_PORTS, loadConfig, SERVICE_NAMES } from "../platform/config.js";
import { kycSettingsFromEnv } from "../services/kyc/settings.js";
import { paymentGatewayName } from "../services/payment/settings.js";
import { startupCheck } from "./helpers/container-env.js";

const test = suite("deploy config");
const root = new URL("..", import.meta.url);
const read = (name: string) => readFileSync(new URL(name, root), "utf8");

interface ComposeService {
  build?: unknown;
  environment?: Record<string, string | number | boolean | null>;
  volumes?: string[];
  ports?: (string | number | { target?: number; published?: string | number })[];
  container_name?: string;
  deploy?: { replicas?: number };
}
const compose = parse(read("docker-compose.yml"), { merge: true }) as { services: Record<string, ComposeService> };

/** KEY=value lines, as compose reads an env file (comments and blank lines skipped). */
function envFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!.trim();
  }
  return out;
}

/** Compose's interpolation: ${X}, ${X:-default}, ${X-default}, ${X:?error}, ${X?error}, $$. */
function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}/g, (whole, name: string | undefined, colon: string, op: string, arg: string) => {
    if (whole === "$$") return "$";
    const v = vars[name!];
    const unset = v === undefined || (colon === ":" && v === "");
    if (op === "-") return unset ? arg : v!;
    if (op === "?" && unset) throw new Error(`${name} is required by docker-compose.yml: ${arg}`);
    return v ?? "";
  });
}

function environmentOf(service: string, vars: Record<string, string>): Record<string, string> {
  const env = compose.services[service]?.environment ?? {};
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolate(v === null ? "" : String(v), vars)]));
}

const devValues = envFile(read(".env.example"));
const ours = Object.entries(compose.services).filter(([, s]) => s.build !== undefined).map(([name]) => name);

test("every service and the gateway run from the image, one container each", () => {
  assert.equal([...ours].sort(), ["auth", "credit", "gateway", "kyc", "loan", "notification", "payment", "station", "transaction"]);
});

test("each container starts: its environment passes the production configuration rules and its service's own settings, with the documented development values", () => {
  for (const name of ours) {
    const env = environmentOf(name, devValues);
    const { cfg, problems } = startupCheck(env);
    assert.equal(problems, [], name);
    assert.ok(cfg!.production, `${name} runs with NODE_ENV=production`);
    if (name === "gateway") assert.ok(cfg!.gateway && cfg!.services.length === 0, name);
    else assert.equal([cfg!.gateway, cfg!.services], [false, [name]], name);
  }
});

test("credit and transaction run two replicas each; a replicated service holds no host port and no container name", () => {
  const replicas = (name: string) => compose.services[name]?.deploy?.replicas ?? 1;
  assert.equal([replicas("credit"), replicas("transaction")], [2, 2]);
  for (const [name, svc] of Object.entries(compose.services)) {
    if (replicas(name) < 2) continue;
    assert.is(svc.container_name, undefined, `${name}: a container name is one container's`);
    for (const p of svc.ports ?? []) {
      const published = typeof p === "object" ? p.published : /^(?:[^:]*:)?(\d+(?:-\d+)?):\d+/.exec(String(p))?.[1];
      assert.is(published, undefined, `${name}: ${JSON.stringify(p)} publishes a fixed host port, which a second replica cannot take`);
    }
  }
});

test("every service's URL names its compose service, on the port it listens on, so a call reaches every replica", () => {
  for (const name of ours) {
    const env = environmentOf(name, devValues);
    const cfg = loadConfig(env);
    for (const s of SERVICE_NAMES) {
      const url = new URL(cfg.urls[s]);
      assert.is(url.hostname, s, `${name}: ${s.toUpperCase()}_URL names the compose service ${s}`);
      const target = loadConfig(environmentOf(s, devValues));
      assert.equal(target.services, [s], `${s}: the service ${url.hostname} runs`);
      assert.is(Number(url.port), target.ports[s], `${name}: ${s.toUpperCase()}_URL's port is the one ${s} listens on`);
      assert.is(target.ports[s], DEFAULT_PORTS[s]);
    }
  }
});

test("the payment container's webhook secrets are required: without them it would not start", () => {
  assert.throws(() => environmentOf("payment", { ...devValues, PAYMENT_WEBHOOK_SECRETS: "" }), /PAYMENT_WEBHOOK_SECRETS/);
  const env = environmentOf("payment", devValues);
  delete env.PAYMENT_WEBHOOK_SECRETS;
  const { problems } = startupCheck(env);
  assert.ok(problems.some((p) => p.startsWith("PAYMENT_WEBHOOK_SECRETS")), String(problems));
});

test("the gateway's webhook endpoint and PaymentService use one payment gateway name", () => {
  const vars = { ...devValues, PAYMENT_GATEWAY_NAME: "paystack" };
  assert.is(paymentGatewayName(environmentOf("gateway", vars)), "paystack");
  assert.is(paymentGatewayName(environmentOf("payment", vars)), "paystack");
});

test("documents: the volume is mounted at STORAGE_DIR, which the image creates owned by the user it runs as", () => {
  const storageDir = kycSettingsFromEnv(environmentOf("kyc", devValues)).storageDir;
  assert.ok((compose.services.kyc?.volumes ?? []).includes(`documents:${storageDir}`), `kyc mounts documents at ${storageDir}`);
  const lines = read("Dockerfile").split("\n").map((l) => l.trim());
  const user = lines.findIndex((l) => /^USER\s+/.test(l));
  assert.ok(user > 0, "the image drops root");
  const runAs = lines[user]!.split(/\s+/)[1]!;
  const created = lines.slice(0, user).some((l) => l.startsWith("RUN ") && l.includes(`install -d -o ${runAs} -g ${runAs} ${storageDir}`));
  assert.ok(created, `the Dockerfile creates ${storageDir} owned by ${runAs} before USER ${runAs}`);
});

test("the development values are not secrets anyone could take for real ones, and .env stays out of git and the image", () => {
  for (const k of ["MESH_SECRET", "OTP_HMAC_KEY", "PII_ENCRYPTION_KEY"]) {
    assert.match(Buffer.from(devValues[k] ?? "", "base64").toString("utf8"), /^dev-only .* never deploy$/, k);
  }
  assert.match(devValues.PAYMENT_WEBHOOK_SECRETS ?? "", /^dev-only-/);
  for (const ignore of [".gitignore", ".dockerignore"]) assert.ok(read(ignore).split("\n").includes(".env"), ignore);
});

test.run();
