// A fast path for unary gRPC. connect-node runs unary gRPC through its streaming
// pipeline (several chained async generators per call) and is several times slower than
// grpc-js on the same machine; its Connect protocol has a unary shortcut, gRPC has not.
// POS terminals and bank systems speak unary gRPC, so we answer it directly from the
// HTTP/2 request: one length-prefixed message in, one out, status in the trailers —
// through the SAME interceptor chain and the SAME handler functions the router uses.
// Everything else (streams, gRPC-Web, Connect, compressed messages) goes to connect-node.
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { create, fromBinary, isMessage, toBinary, type DescMethod, type DescService } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createContextValues,
  createHandlerContext,
  type ConnectRouter,
  type HandlerContext,
  type Interceptor,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { atEdgeKey, clientIpKey } from "./context.js";
import { frame, headerObject, headersOf, unframe } from "./grpc-wire.js";

type UnaryFn = (req: unknown, ctx: HandlerContext) => unknown;
export interface UnaryEntry {
  service: DescService;
  method: DescMethod;
  impl: UnaryFn;
}

/** Wraps a router so every unary implementation registered through it is also recorded. */
export function recordingRouter(router: ConnectRouter, into: Map<string, UnaryEntry>): ConnectRouter {
  return new Proxy(router, {
    get(target, prop, receiver) {
      if (prop === "service") {
        return (service: DescService, impl: Record<string, UnaryFn>, opts?: never) => {
          for (const m of service.methods) {
            const fn = impl[m.localName];
            if (fn && m.methodKind === "unary") into.set(`/${service.typeName}/${m.name}`, { service, method: m, impl: fn });
          }
          return target.service(service as never, impl as never, opts);
        };
      }
      if (prop === "rpc") {
        return (method: DescMethod, impl: UnaryFn, opts?: never) => {
          if (method.methodKind === "unary") into.set(`/${method.parent.typeName}/${method.name}`, { service: method.parent, method, impl });
          return target.rpc(method as never, impl as never, opts);
        };
      }
      return Reflect.get(target, prop, receiver);
    },
  });
}

const GRPC_CONTENT_TYPE = /^application\/grpc(\+proto)?$/;

/** How a call arrived: its URL, cancellation, the client's address, and whether it came straight from the public edge. */
export interface ArrivedVia {
  url: string;
  signal: AbortSignal;
  clientIp: string;
  atEdge?: boolean;
}

/** What the gRPC fast path needs of a server: find a unary method by path, run a call of it. */
export interface FastDispatcher {
  find(path: string): UnaryEntry | undefined;
  dispatch(entry: UnaryEntry, message: unknown, header: Headers, how: ArrivedVia): Promise<UnaryResponse>;
}

/**
 * Runs unary calls of one server through its interceptor chain and handlers, given a
 * decoded message and request headers: the gRPC fast path below and in-process mesh
 * calls (local.ts) both use it, so every way in meets the same checks.
 */
export class UnaryDispatcher implements FastDispatcher {
  private chain: ((req: UnaryRequest) => Promise<UnaryResponse>) | undefined;
  constructor(
    readonly entries: Map<string, UnaryEntry>,
    private readonly interceptors: Interceptor[],
    private readonly shutdown: AbortSignal,
  ) {}

  find(path: string): UnaryEntry | undefined {
    return this.entries.get(path);
  }

  async dispatch(entry: UnaryEntry, message: unknown, header: Headers, how: ArrivedVia): Promise<UnaryResponse> {
    this.chain ??= this.compose();
    const values = createContextValues().set(clientIpKey, how.clientIp);
    if (how.atEdge) values.set(atEdgeKey, true);
    const ctx = createHandlerContext({
      service: entry.service,
      method: entry.method,
      protocolName: "grpc",
      requestMethod: "POST",
      url: how.url,
      requestSignal: how.signal,
      shutdownSignal: this.shutdown,
      requestHeader: header,
      responseHeader: {},
      responseTrailer: {},
      contextValues: values,
    }) as HandlerContext & { abort(reason?: unknown): void };
    try {
      const unaryReq = {
        stream: false,
        service: entry.service,
        method: entry.method,
        requestMethod: "POST",
        url: how.url,
        signal: ctx.signal,
        header,
        contextValues: ctx.values,
        message,
        ctx,
        entry,
      } as unknown as UnaryRequest;
      return await this.chain(unaryReq);
    } finally {
      // Aborting the finished call's context detaches its listeners from the shutdown
      // signal (they would pile up otherwise). A ready-made reason avoids building a
      // DOMException per call, which is measurable at this rate.
      ctx.abort(CALL_DONE);
    }
  }

  private compose() {
    let next = (async (r: UnaryRequest & { ctx: HandlerContext; entry: UnaryEntry }) => {
      const out = await r.entry.impl(r.message, r.ctx);
      return {
        stream: false,
        service: r.service,
        method: r.method,
        header: r.ctx.responseHeader,
        trailer: r.ctx.responseTrailer,
        message: isMessage(out) ? out : create(r.method.output, out as never),
      } as UnaryResponse;
    }) as unknown as (r: unknown) => Promise<unknown>;
    for (const i of [...this.interceptors].reverse()) next = i(next as never) as never;
    return next as unknown as (req: UnaryRequest) => Promise<UnaryResponse>;
  }
}

/** Returns a handler that answers a request and returns true, or returns false to pass. */
export function grpcFastPath(dispatcher: FastDispatcher, maxRequestBytes: number) {
  return (req: Http2ServerRequest, res: Http2ServerResponse): boolean => {
    if (req.httpVersionMajor !== 2 || req.method !== "POST") return false;
    const ct = req.headers["content-type"];
    if (!ct || !GRPC_CONTENT_TYPE.test(ct)) return false;
    const enc = req.headers["grpc-encoding"];
    if (enc && enc !== "identity") return false;
    const entry = dispatcher.find(req.url.split("?")[0]!);
    if (!entry) return false;
    void serve(entry, req, res, dispatcher, maxRequestBytes);
    return true;
  };
}

async function serve(entry: UnaryEntry, req: Http2ServerRequest, res: Http2ServerResponse, dispatcher: FastDispatcher, maxRequestBytes: number) {
  const aborted = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) aborted.abort(CLIENT_GONE);
  });
  const header = headersOf(req.headers);
  try {
    const body = await readBody(req, maxRequestBytes);
    const message = decodeSingle(entry.method, body);
    const out = await dispatcher.dispatch(entry, message, header, { url: req.url, signal: aborted.signal, clientIp: req.socket?.remoteAddress ?? "" });
    // Serialized before anything is written, so a failure still gets a proper error.
    const reply = frame(toBinary(entry.method.output, out.message));
    const trailers = headerObject(out.trailer);
    trailers["grpc-status"] = "0";
    res.writeHead(200, { ...headerObject(out.header), "content-type": "application/grpc+proto" });
    res.addTrailers(trailers);
    res.end(reply);
  } catch (err) {
    const ce = ConnectError.from(err);
    if (res.headersSent || res.destroyed) return;
    const status = setTrailerStatus(new Headers(), ce);
    // The gRPC spec percent-encodes only '%' and bytes outside printable ASCII; grpc-js
    // decodes with decodeURI, so a fully encoded ':' or '+' would reach its user as %3A.
    status.set("grpc-message", ce.rawMessage.replace(/[^\x20-\x24\x26-\x7e]/gu, (c) => encodeURIComponent(c)));
    const head = headerObject(ce.metadata);
    for (const k of Object.keys(head)) if (/^(content-type|grpc-)/i.test(k)) delete head[k];
    res.writeHead(200, { ...head, "content-type": "application/grpc+proto" });
    res.addTrailers(headerObject(status));
    res.end();
  }
}

const CALL_DONE = new ConnectError("call finished", Code.Canceled);
const CLIENT_GONE = new ConnectError("client went away", Code.Canceled);

function readBody(req: Http2ServerRequest, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > max) {
        reject(new ConnectError(`message larger than ${max} bytes`, Code.ResourceExhausted));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function decodeSingle(method: DescMethod, body: Buffer) {
  const bytes = unframe(body, "request", Code.InvalidArgument);
  try {
    return fromBinary(method.input, bytes);
  } catch {
    throw new ConnectError("request message does not parse", Code.InvalidArgument);
  }
}
