// A plain gRPC client over node:http2: the wire protocol itself and nothing more, for the
// bench's load generators (nearby-load.ts, sale-load.ts). On this machine's two cores the
// client's own CPU is on every request's path; per call grpc-js took 1.2–2.3 ms, this
// 0.7–1.3 ms.
import type { ClientHttp2Session } from "node:http2";
import { Code } from "@connectrpc/connect";
import { frame, unframe } from "../platform/grpc-wire.js";

/** A failed call: its gRPC status (or `http <status>`) and message. */
export class PlainGrpcError extends Error {
  constructor(readonly status: string, message: string) {
    super(`grpc-status ${status}: ${message}`);
  }
}

/**
 * One unary gRPC call as the protocol defines it: POST on an HTTP/2 stream, the request
 * as one length-prefixed message, the answer's message back and its status in the
 * trailers (or in the headers, for an error without a body). Resolves with the message.
 */
export function plainGrpcCall(session: ClientHttp2Session, path: string, headers: Record<string, string>, message: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":method": "POST", ":path": path, "content-type": "application/grpc+proto", te: "trailers", "grpc-timeout": "10S", ...headers,
    });
    const chunks: Buffer[] = [];
    let status: string | undefined;
    let detail = "";
    stream.on("response", (h) => {
      if (h[":status"] !== 200) status = `http ${h[":status"]}`;
      else if (h["grpc-status"] !== undefined) {
        status = String(h["grpc-status"]);
        detail = decodeURIComponent(String(h["grpc-message"] ?? ""));
      }
    });
    stream.on("trailers", (t) => {
      if (status === undefined) {
        status = String(t["grpc-status"]);
        detail = decodeURIComponent(String(t["grpc-message"] ?? ""));
      }
    });
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("error", reject);
    stream.on("end", () => {
      if (status !== "0") return reject(new PlainGrpcError(status ?? "none", detail));
      try {
        resolve(unframe(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), "response", Code.Internal));
      } catch (err) {
        reject(err);
      }
    });
    stream.end(frame(message));
  });
}
