// S3-compatible storage: path-style PUT/GET of `<endpoint>/<bucket>/<prefix><key>`,
// signed with SigV4 over plain fetch (no SDK). Works with AWS S3, MinIO, Ceph, R2.
import { StorageNotFound, assertKey, type DocumentStorage } from "./types.js";
import { sha256Hex, signV4, uriEncode, type SigV4Credentials } from "./sigv4.js";

export interface S3Options {
  endpoint: string;
  bucket: string;
  region: string;
  credentials: SigV4Credentials;
  prefix?: string;
  /** For tests; defaults to the real clock. */
  now?: () => Date;
  timeoutMs?: number;
}

export class S3Storage implements DocumentStorage {
  readonly backend = "s3";
  constructor(private readonly opts: S3Options) {}

  urlOf(key: string): URL {
    assertKey(key);
    const base = this.opts.endpoint.replace(/\/+$/, "");
    return new URL(`${base}/${uriEncode(this.opts.bucket, false)}/${uriEncode((this.opts.prefix ?? "") + key, true)}`);
  }

  private async send(method: "PUT" | "GET", key: string, body?: Uint8Array, contentType?: string): Promise<Response> {
    const url = this.urlOf(key);
    const payloadHash = sha256Hex(body ?? new Uint8Array());
    const extra: Record<string, string> = {};
    if (body) {
      extra["content-type"] = contentType ?? "application/octet-stream";
      extra["content-length"] = String(body.byteLength);
    }
    const headers = signV4({ method, url, payloadHash, headers: extra }, this.opts.credentials, this.opts.region, "s3", (this.opts.now ?? (() => new Date()))());
    return await fetch(url, {
      method,
      headers,
      body: body ? Buffer.from(body) : undefined,
      signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
    });
  }

  async put(key: string, bytes: Uint8Array, contentType: string): Promise<void> {
    const res = await this.send("PUT", key, bytes, contentType);
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) throw new Error(`object store PUT failed with HTTP ${res.status}`);
  }

  async get(key: string): Promise<Uint8Array> {
    const res = await this.send("GET", key);
    if (res.status === 404) {
      await res.arrayBuffer().catch(() => undefined);
      throw new StorageNotFound(key);
    }
    if (!res.ok) {
      await res.arrayBuffer().catch(() => undefined);
      throw new Error(`object store GET failed with HTTP ${res.status}`);
    }
    return new Uint8Array(await res.arrayBuffer());
  }
}
