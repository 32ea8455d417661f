// The client half of the unary gRPC fast path (see grpc-fast.ts for the server half).
// connect-node's gRPC client runs a unary call through the same chain of async
// iterables, abort controllers and fetch-style Headers as a stream; per mesh hop that
// cost more CPU than the handler's own database work. Mesh hops are almost all unary, so
// a unary call here is one HTTP/2 stream written directly: a length-prefixed message out,
// headers, one message and trailers back. The interceptors still run around it with
// Connect's own request/response shapes, and streaming calls go to connect-node. Each call
// goes to one replica of the service, picked per call (peers.ts).
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type SecureClientSessionOptions } from "node:http2";
import { create, fromBinary, toBinary, type DescMessage, type DescMethodUnary, type MessageInitShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createContextValues,
  type ContextValues,
  type Interceptor,
  type Transport,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import { codeFromHttpStatus, findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { frame, grpcTimeout, headerObject, headersOf, unframe } from "./grpc-wire.js";
import { callLocal, findLocal, portOf } from "./local.js";
import { balancedTransport, everConnected, Peers, type Peer } from "./peers.js";

export interface FastGrpcOptions {
  baseUrl: string;
  interceptors: Interceptor[];
  /**
   * Streams (and anything this client does not do) go here: one transport, or a maker
   * of one per replica (given the node options that reach it), so that each stream picks
   * a replica as each unary call does.
   */
  fallback: Transport | ((nodeOptions: SecureClientSessionOptions) => Transport);
  readMaxBytes: number;
  writeMaxBytes: number;
  /** Serve calls in-process when the target service runs in this process (local.ts). */
  inProcess?: boolean;
  /** How often the URL's name is resolved again to find the service's replicas (peers.ts); 0 = never. */
  resolveIntervalMs?: number;
}

/**
 * A call that fails before it was sent is tried on another replica, up to this many
 * replicas in all; one that may have reached a server is never sent again from here
 * (its caller retries with its idempotency key).
 */
export const MAX_ATTEMPTS = 3;

type Next = (req: UnaryRequest) => Promise<UnaryResponse>;

/** A Transport whose unary calls take the fast path and whose streams use `fallback`. */
export function fastGrpcTransport(opts: FastGrpcOptions): Transport {
  const peers = new Peers(opts.baseUrl, opts.resolveIntervalMs);
  const base = opts.baseUrl.replace(/\/$/, "");
  const port = portOf(opts.baseUrl);
  const streams = typeof opts.fallback === "function" ? balancedTransport(peers, opts.fallback) : opts.fallback;
  let chain: Next | undefined;
  const compose = (): Next => {
    let next = ((req: UnaryRequest & { timeoutMs?: number }) => {
      const local = opts.inProcess ? findLocal(req.service.typeName, req.method.name, port) : undefined;
      return local ? callLocal(local, req, req.timeoutMs) : send(peers, req, opts);
    }) as unknown as Next;
    for (const i of [...opts.interceptors].reverse()) next = i(next as never) as unknown as Next;
    return next;
  };
  return {
    async unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: MessageInitShape<I>,
      contextValues?: ContextValues,
    ): Promise<UnaryResponse<I, O>> {
      chain ??= compose();
      const req = {
        stream: false,
        service: method.parent,
        method,
        requestMethod: "POST",
        url: `${base}/${method.parent.typeName}/${method.name}`,
        signal: signal ?? new AbortController().signal,
        header: new Headers(header),
        contextValues: contextValues ?? createContextValues(),
        message: create(method.input, input),
        timeoutMs,
      } as unknown as UnaryRequest<I, O>;
      return (await chain(req as never)) as unknown as UnaryResponse<I, O>;
    },
    stream: (...args) => streams.stream(...args),
  };
}

function send(peers: Peers, req: UnaryRequest & { timeoutMs?: number }, opts: FastGrpcOptions): Promise<UnaryResponse> {
  const bytes = toBinary(req.method.input, req.message);
  if (bytes.length > opts.writeMaxBytes) {
    return Promise.reject(new ConnectError(`message size ${bytes.length} is larger than configured writeMaxBytes ${opts.writeMaxBytes}`, Code.ResourceExhausted));
  }
  if (req.signal.aborted) return Promise.reject(ConnectError.from(req.signal.reason, Code.Canceled));

  const headers: http2.OutgoingHttpHeaders = {
    ":method": "POST",
    ":path": new URL(req.url).pathname,
    "content-type": "application/grpc+proto",
    te: "trailers",
  };
  Object.assign(headers, headerObject(req.header));
  const timeoutMs = req.timeoutMs;
  if (timeoutMs !== undefined) headers["grpc-timeout"] = grpcTimeout(timeoutMs);
  const body = frame(bytes);

  return new Promise<UnaryResponse>((resolve, reject) => {
    let settled = false;
    /** The stream of the attempt under way. */
    let stream: ClientHttp2Stream | undefined;
    /** Replicas this call could not be sent to (allocated on the first such failure). */
    let tried: Peer[] | undefined;
    let unsentError: ConnectError | undefined;

    const finish = (err: ConnectError | undefined, res?: UnaryResponse) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      req.signal.removeEventListener("abort", onAbort);
      if (err) {
        if (stream && !stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
        reject(err);
      } else resolve(res!);
    };
    const onAbort = () => finish(ConnectError.from(req.signal.reason, Code.Canceled));
    req.signal.addEventListener("abort", onAbort, { once: true });
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => finish(new ConnectError(`the operation timed out after ${timeoutMs} ms`, Code.DeadlineExceeded)), timeoutMs);

    /** The attempt on `peer` failed before anything reached it: try another replica, if any is left. */
    const unsent = (peer: Peer, err: Error) => {
      unsentError = new ConnectError(`cannot reach ${req.url} at ${peer.address}: ${err.message}`, Code.Unavailable);
      (tried ??= []).push(peer);
      if (tried.length >= MAX_ATTEMPTS) finish(unsentError);
      else attempt();
    };

    const attempt = () => {
      if (settled) return;
      const peer = peers.pick(tried);
      if (!peer) {
        finish(unsentError ?? new ConnectError(`no address for ${req.url}`, Code.Unavailable));
        return;
      }
      let session: ClientHttp2Session;
      let s: ClientHttp2Stream;
      try {
        session = peers.session(peer);
        s = session.request(headers, { endStream: false });
      } catch (err) {
        // A session that is closing takes no new stream: nothing was sent.
        unsent(peer, err as Error);
        return;
      }
      stream = s;
      let status = 0;
      let responseHeaders: Headers | undefined;
      let trailers: Headers | undefined;
      const chunks: Buffer[] = [];
      let size = 0;

      s.on("response", (h: IncomingHttpHeaders) => {
        status = Number(h[":status"] ?? 0);
        responseHeaders = headersOf(h);
      });
      s.on("trailers", (t: IncomingHttpHeaders) => {
        trailers = headersOf(t);
      });
      s.on("data", (c: Buffer) => {
        size += c.length;
        if (size > opts.readMaxBytes + 5) {
          finish(new ConnectError(`message larger than ${opts.readMaxBytes} bytes`, Code.ResourceExhausted));
          return;
        }
        chunks.push(c);
      });
      s.on("error", (err: Error) => {
        if (settled || stream !== s) return;
        // Nothing was sent if the connection was never made, and the server says it did
        // not process a stream it refused (REFUSED_STREAM, or above a GOAWAY's last id).
        const neverSent = !responseHeaders && (!everConnected(session) || s.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM);
        if (neverSent) unsent(peer, err);
        else finish(new ConnectError(`hop to ${req.url} failed: ${err.message}`, Code.Unavailable));
      });
      s.on("close", () => {
        if (settled || stream !== s) return;
        try {
          finish(undefined, complete(req, status, responseHeaders, trailers, chunks));
        } catch (err) {
          finish(ConnectError.from(err));
        }
      });
      s.end(body);
    };

    const waiting = peers.pending();
    if (waiting) waiting.then(attempt, (err: unknown) => finish(ConnectError.from(err, Code.Unavailable)));
    else attempt();
  });
}

/** Turns what came back into a response, or throws the error it carries. */
function complete(req: UnaryRequest, status: number, header: Headers | undefined, trailer: Headers | undefined, chunks: Buffer[]): UnaryResponse {
  if (!header) throw new ConnectError(`hop to ${req.url} closed without a response`, Code.Unavailable);
  // A trailers-only response carries its status in the headers.
  const statusIn = trailer ?? header;
  const err = findTrailerError(statusIn);
  if (err) {
    header.forEach((v, k) => err.metadata.set(k, v));
    trailer?.forEach((v, k) => err.metadata.set(k, v));
    throw err;
  }
  if (status !== 200) throw new ConnectError(`hop to ${req.url} answered HTTP ${status}`, codeFromHttpStatus(status));
  if (!statusIn.has("grpc-status")) throw new ConnectError(`hop to ${req.url} ended without a gRPC status`, Code.Unavailable);
  const body = unframe(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), "response", Code.Unimplemented);
  return {
    stream: false,
    service: req.service,
    method: req.method,
    header,
    message: fromBinary(req.method.output, body),
    trailer: trailer ?? new Headers(),
  } as UnaryResponse;
}
