// AWS Signature Version 4 for S3-compatible object stores (AWS S3, MinIO, Ceph, R2).
// Pure: given a request and credentials at a time, the headers to send.
import { createHash, createHmac } from "node:crypto";

export interface SigV4Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface SigV4Request {
  method: string;
  url: URL;
  /** Lower-case hex SHA-256 of the body, or UNSIGNED-PAYLOAD. */
  payloadHash: string;
  headers?: Record<string, string>;
}

const sha256Hex = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");
const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data).digest();

/** RFC 3986 encoding as SigV4 wants it (S3: slashes in the path are kept). */
export function uriEncode(s: string, keepSlash: boolean): string {
  return [...Buffer.from(s, "utf8")]
    .map((b) => {
      const c = String.fromCharCode(b);
      if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === "/")) return c;
      return `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
    })
    .join("");
}

export function amzDate(now: Date): { amzDate: string; dateStamp: string } {
  const iso = now.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  return { amzDate: iso, dateStamp: iso.slice(0, 8) };
}

/** Returns the headers (including Authorization) to add to the request. */
export function signV4(req: SigV4Request, creds: SigV4Credentials, region: string, service: string, now: Date): Record<string, string> {
  const { amzDate: date, dateStamp } = amzDate(now);
  const headers: Record<string, string> = {
    ...(req.headers ?? {}),
    host: req.url.host,
    "x-amz-date": date,
    "x-amz-content-sha256": req.payloadHash,
  };
  if (creds.sessionToken) headers["x-amz-security-token"] = creds.sessionToken;
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v.trim().replace(/\s+/g, " ")]));
  const signedNames = Object.keys(lower).sort();
  const canonicalHeaders = signedNames.map((k) => `${k}:${lower[k]}\n`).join("");
  const signedHeaders = signedNames.join(";");
  const query = [...req.url.searchParams.entries()]
    .map(([k, v]) => [uriEncode(k, false), uriEncode(v, false)] as const)
    .sort(([a, av], [b, bv]) => (a === b ? (av < bv ? -1 : 1) : a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const path = uriEncode(decodeURIComponent(req.url.pathname), true);
  const canonicalRequest = [req.method.toUpperCase(), path, query, canonicalHeaders, signedHeaders, req.payloadHash].join("\n");
  const scope = `${dateStamp}/${region}/${service}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", date, scope, sha256Hex(canonicalRequest)].join("\n");
  const kDate = hmac(`AWS4${creds.secretAccessKey}`, dateStamp);
  const kSigning = hmac(hmac(hmac(kDate, region), service), "aws4_request");
  const signature = createHmac("sha256", kSigning).update(stringToSign).digest("hex");
  const { host: _host, ...rest } = headers;
  return {
    ...rest,
    authorization: `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
  };
}

export { sha256Hex };
