// The gRPC wire pieces both halves of our unary path need (grpc-fast.ts serves, grpc-client.ts
// and local.ts call): the length-prefixed frame of one message, the timeout header, and
// HTTP/2 header blocks as Headers.
import type { IncomingHttpHeaders } from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";

/** One uncompressed message as a gRPC frame: flag byte 0, 4-byte big-endian length, bytes. */
export function frame(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + bytes.length);
  out[0] = 0;
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

/**
 * The one message of a unary body. `missing` is the code for an empty body: a request
 * without its message is the caller's mistake, a response without one the server's.
 */
export function unframe(body: Buffer, what: "request" | "response", missing: Code): Buffer {
  if (body.length < 5) throw new ConnectError(`missing ${what} message`, missing);
  if (body[0] !== 0) throw new ConnectError(`compressed ${what} without an agreed encoding`, Code.Internal);
  if (body.length !== 5 + body.readUInt32BE(1)) throw new ConnectError(`unary ${what} must carry exactly one message`, Code.Unimplemented);
  return body.subarray(5);
}

/** A deadline as the `grpc-timeout` header says it: whole milliseconds, at least one. */
export function grpcTimeout(ms: number): string {
  return `${Math.max(1, Math.ceil(ms))}m`;
}

/** An HTTP/2 header block without its pseudo-headers (`:path`, `:status`, …). */
export function headersOf(h: IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const k in h) {
    if (k.charCodeAt(0) === 58 /* ':' */) continue;
    const v = h[k];
    if (v === undefined) continue;
    out.set(k, Array.isArray(v) ? v.join(", ") : v);
  }
  return out;
}

/** Headers as the plain object node:http2 writes. */
export function headerObject(h: Headers): Record<string, string> {
  const o: Record<string, string> = {};
  h.forEach((v, k) => (o[k] = v));
  return o;
}
