// Document storage adapters: the local filesystem adapter keeps every object under its
// root at the server-made key; the S3-compatible adapter does SigV4-signed PUT/GET over
// fetch, checked here against an in-test HTTP server that verifies the Authorization
// header, the signed headers and the payload hash of every request.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createHash, randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalStorage, S3Storage, StorageNotFound, storageKey, storageFromEnv } from "../services/kyc/storage/index.js";
import { signV4 } from "../services/kyc/storage/sigv4.js";

interface Ctx {
  dir: string;
  server: Server;
  endpoint: string;
  objects: Map<string, Buffer>;
  seen: { method: string; path: string; authorization: string }[];
}

const test = suite<Ctx>("kyc storage adapters");
const CREDS = { accessKeyId: "AKIDTEST", secretAccessKey: "test-secret-key" };
const REGION = "eu-west-1";

function body(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** Verifies a SigV4 request as S3 would: recompute the signature from what arrived. */
function verifySigV4(req: IncomingMessage, payload: Buffer): string | null {
  const auth = req.headers.authorization ?? "";
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return "malformed Authorization header";
  const [, keyId, date, region, signedHeaders, signature] = m;
  if (keyId !== CREDS.accessKeyId) return "unknown access key";
  if (region !== REGION) return "wrong region";
  const amzDate = String(req.headers["x-amz-date"] ?? "");
  if (!amzDate.startsWith(date!)) return "x-amz-date does not match the credential scope";
  const hash = String(req.headers["x-amz-content-sha256"] ?? "");
  if (hash !== createHash("sha256").update(payload).digest("hex")) return "payload hash mismatch";
  const names = signedHeaders!.split(";");
  for (const required of ["host", "x-amz-content-sha256", "x-amz-date"]) if (!names.includes(required)) return `${required} not signed`;
  const headers: Record<string, string> = {};
  for (const n of names) {
    if (n === "host" || n === "x-amz-date" || n === "x-amz-content-sha256") continue;
    headers[n] = String(req.headers[n] ?? "");
  }
  const url = new URL(`http://${req.headers.host}${req.url}`);
  const when = new Date(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
  const expected = signV4({ method: req.method!, url, payloadHash: hash, headers }, CREDS, REGION, "s3", when).authorization ?? "";
  return expected.endsWith(`Signature=${signature}`) ? null : "signature mismatch";
}

test.before(async (ctx) => {
  ctx.dir = await mkdtemp(join(tmpdir(), "kyc-storage-"));
  ctx.objects = new Map();
  ctx.seen = [];
  ctx.server = createServer(async (req, res) => {
    const payload = await body(req);
    ctx.seen.push({ method: req.method!, path: req.url!, authorization: req.headers.authorization ?? "" });
    const problem = verifySigV4(req, payload);
    if (problem) {
      res.writeHead(403, { "content-type": "application/xml" }).end(`<Error><Code>SignatureDoesNotMatch</Code><Message>${problem}</Message></Error>`);
      return;
    }
    if (req.method === "PUT") {
      ctx.objects.set(req.url!, payload);
      res.writeHead(200, { etag: '"x"' }).end();
    } else if (req.method === "GET") {
      const obj = ctx.objects.get(req.url!);
      if (!obj) res.writeHead(404).end("<Error><Code>NoSuchKey</Code></Error>");
      else res.writeHead(200, { "content-type": "application/octet-stream" }).end(obj);
    } else res.writeHead(405).end();
  });
  await new Promise<void>((r) => ctx.server.listen(0, "127.0.0.1", r));
  ctx.endpoint = `http://127.0.0.1:${(ctx.server.address() as AddressInfo).port}`;
});

test.after(async (ctx) => {
  await new Promise((r) => ctx.server.close(r));
  await rm(ctx.dir, { recursive: true, force: true });
});

test("local: objects live under the root at the server key; bad keys are refused", async (ctx) => {
  const s = new LocalStorage(ctx.dir);
  const key = storageKey("driver", randomUUID(), randomUUID());
  const bytes = new Uint8Array([1, 2, 3, 4]);
  await s.put(key, bytes);
  assert.equal(new Uint8Array(await readFile(join(ctx.dir, key))), bytes);
  assert.equal(await s.get(key), bytes);
  try {
    await s.get(storageKey("agency", randomUUID(), randomUUID()));
    assert.unreachable("missing object read");
  } catch (err) {
    assert.instance(err, StorageNotFound);
  }
  for (const bad of ["../../etc/passwd", "/etc/passwd", `driver-${randomUUID()}/../../x`, "driver-x/y"]) {
    assert.throws(() => s.pathOf(bad), /invalid storage key/);
    await s.put(bad, bytes).then(() => assert.unreachable(`put accepted ${bad}`), (e: Error) => assert.match(e.message, /invalid storage key/));
  }
  assert.throws(() => storageKey("driver", "../x", randomUUID()));
});

test("s3: signed PUT then GET round-trips; a missing object is StorageNotFound", async (ctx) => {
  const s3 = new S3Storage({ endpoint: ctx.endpoint, bucket: "kyc-docs", region: REGION, credentials: CREDS, prefix: "prod/" });
  const key = storageKey("driver", randomUUID(), randomUUID());
  const pdf = new TextEncoder().encode("%PDF-1.7 test document");
  await s3.put(key, pdf, "application/pdf");
  assert.ok(ctx.objects.has(`/kyc-docs/prod/${key}`));
  assert.equal(await s3.get(key), pdf);
  const put = ctx.seen.find((r) => r.method === "PUT")!;
  assert.match(put.authorization, /SignedHeaders=content-length;content-type;host;x-amz-content-sha256;x-amz-date, Signature=/);
  try {
    await s3.get(storageKey("driver", randomUUID(), randomUUID()));
    assert.unreachable("missing object read");
  } catch (err) {
    assert.instance(err, StorageNotFound);
  }
});

test("s3: a wrong secret is refused by the server (the signature really is checked)", async (ctx) => {
  const s3 = new S3Storage({ endpoint: ctx.endpoint, bucket: "kyc-docs", region: REGION, credentials: { ...CREDS, secretAccessKey: "wrong" } });
  try {
    await s3.put(storageKey("agency", randomUUID(), randomUUID()), new Uint8Array([0xff, 0xd8, 0xff, 1]), "image/jpeg");
    assert.unreachable("PUT with a wrong secret succeeded");
  } catch (err) {
    assert.match((err as Error).message, /HTTP 403/);
  }
});

test("config: backend chosen by KYC_STORAGE_BACKEND; every missing S3 setting named at once", () => {
  assert.instance(storageFromEnv("/tmp/x", {}), LocalStorage);
  assert.instance(
    storageFromEnv("/tmp/x", { KYC_STORAGE_BACKEND: "s3", S3_ENDPOINT: "http://minio:9000", S3_BUCKET: "b", S3_ACCESS_KEY_ID: "k", S3_SECRET_ACCESS_KEY: "s" }),
    S3Storage,
  );
  try {
    storageFromEnv("/tmp/x", { KYC_STORAGE_BACKEND: "s3", S3_ENDPOINT: "ftp://x" });
    assert.unreachable("bad S3 config accepted");
  } catch (err) {
    const msg = (err as Error).message;
    for (const name of ["S3_ENDPOINT", "S3_BUCKET", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"]) assert.match(msg, name);
  }
  assert.throws(() => storageFromEnv("/tmp/x", { KYC_STORAGE_BACKEND: "gcs" }), /KYC_STORAGE_BACKEND/);
});

test.run();
