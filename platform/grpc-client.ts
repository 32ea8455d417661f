// The client half of the unary gRPC fast path (see grpc-fast.ts for the server half).
// connect-node's gRPC client runs a unary call through the same chain of async
// iterables, abort controllers and fetch-style Headers as a stream; per mesh hop that
// cost more CPU than the handler's own database work. Mesh hops are almost all unary, so
// a unary call here is one HTTP/2 stream written directly: a length-prefixed message out,
// headers, one message and trailers back. The interceptors still run around it with
// Connect's own request/response shapes, and streaming calls go to connect-node.
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from "node:http2";
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

export interface FastGrpcOptions {
  baseUrl: string;
  interceptors: Interceptor[];
  /** Streams (and anything this client does not do) go here. */
  fallback: Transport;
  readMaxBytes: number;
  writeMaxBytes: number;
  /** Serve calls in-process when the target service runs in this process (local.ts). */
  inProcess?: boolean;
}

type Next = (req: UnaryRequest) => Promise<UnaryResponse>;

/** A Transport whose unary calls take the fast path and whose streams use `fallback`. */
export function fastGrpcTransport(opts: FastGrpcOptions): Transport {
  const sessions = new SessionPool(opts.baseUrl);
  const base = opts.baseUrl.replace(/\/$/, "");
  const port = portOf(opts.baseUrl);
  let chain: Next | undefined;
  const compose = (): Next => {
    let next = ((req: UnaryRequest & { timeoutMs?: number }) => {
      const local = opts.inProcess ? findLocal(req.service.typeName, req.method.name, port) : undefined;
      return local ? callLocal(local, req, req.timeoutMs) : send(sessions, req, opts);
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
    stream: (...args) => opts.fallback.stream(...args),
  };
}

/** One HTTP/2 session per target, replaced when it closes or is told to go away. */
class SessionPool {
  private session: ClientHttp2Session | undefined;
  constructor(private readonly url: string) {}

  get(): ClientHttp2Session {
    const s = this.session;
    if (s && !s.closed && !s.destroyed) return s;
    const next = http2.connect(this.url, { maxSessionMemory: 64 });
    const forget = () => {
      if (this.session === next) this.session = undefined;
    };
    next.on("goaway", forget);
    next.on("close", forget);
    // A session error fails the streams on it (they see it themselves); never the process.
    next.on("error", forget);
    next.setTimeout(IDLE_SESSION_MS, () => next.close());
    // Idle sessions must not keep a process alive; open streams do.
    next.unref();
    this.session = next;
    return next;
  }
}

const IDLE_SESSION_MS = 5 * 60_000;

function send(sessions: SessionPool, req: UnaryRequest & { timeoutMs?: number }, opts: FastGrpcOptions): Promise<UnaryResponse> {
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

  return new Promise<UnaryResponse>((resolve, reject) => {
    let stream: ClientHttp2Stream;
    try {
      stream = sessions.get().request(headers, { endStream: false });
    } catch (err) {
      reject(new ConnectError(`cannot reach ${req.url}: ${(err as Error).message}`, Code.Unavailable));
      return;
    }
    let settled = false;
    let status = 0;
    let responseHeaders: Headers | undefined;
    let trailers: Headers | undefined;
    const chunks: Buffer[] = [];
    let size = 0;

    const finish = (err: ConnectError | undefined, res?: UnaryResponse) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      req.signal.removeEventListener("abort", onAbort);
      if (err) {
        if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
        reject(err);
      } else resolve(res!);
    };
    const onAbort = () => finish(ConnectError.from(req.signal.reason, Code.Canceled));
    req.signal.addEventListener("abort", onAbort, { once: true });
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => finish(new ConnectError(`the operation timed out after ${timeoutMs} ms`, Code.DeadlineExceeded)), timeoutMs);

    stream.on("response", (h: IncomingHttpHeaders) => {
      status = Number(h[":status"] ?? 0);
      responseHeaders = headersOf(h);
    });
    stream.on("trailers", (t: IncomingHttpHeaders) => {
      trailers = headersOf(t);
    });
    stream.on("data", (c: Buffer) => {
      size += c.length;
      if (size > opts.readMaxBytes + 5) {
        finish(new ConnectError(`message larger than ${opts.readMaxBytes} bytes`, Code.ResourceExhausted));
        return;
      }
      chunks.push(c);
    });
    stream.on("error", (err: Error) => finish(new ConnectError(`hop to ${req.url} failed: ${err.message}`, Code.Unavailable)));
    stream.on("close", () => {
      if (settled) return;
      try {
        finish(undefined, complete(req, status, responseHeaders, trailers, chunks));
      } catch (err) {
        finish(ConnectError.from(err));
      }
    });
    stream.end(frame(bytes));
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
