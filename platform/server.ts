// One Connect server on its own port, over HTTP/2 cleartext (h2c), speaking gRPC,
// gRPC-Web and Connect. Every server also answers health and reflection, caps message
// sizes and deadlines, and drains on shutdown: health flips to NOT_SERVING, the
// listener closes, in-flight calls get `drainTimeoutMs` to finish, then pools close.
import { setMaxListeners } from "node:events";
import http2, { type Http2ServerRequest, type Http2ServerResponse } from "node:http2";
import type { IncomingMessage, ServerResponse } from "node:http";
import { grpcFastPath, recordingRouter, UnaryDispatcher, type FastDispatcher, type UnaryEntry } from "./grpc-fast.js";
import type { AddressInfo } from "node:net";
import type { DescService } from "@bufbuild/protobuf";
import { createContextValues, type ConnectRouter, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { ServerReflection } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { clientIpKey } from "./context.js";
import { registerLocal } from "./local.js";
import { replayingRouter } from "./interceptors/idempotency.js";
import { DRAINING, healthRoutes, HealthState } from "./health.js";
import { log } from "./logger.js";
import { reflectionRoutes } from "./reflection.js";

export interface ServerOptions {
  name: string;
  host: string;
  port: number;
  services: DescService[];
  routes: (router: ConnectRouter) => void;
  interceptors: Interceptor[];
  maxRequestBytes: number;
  drainTimeoutMs: number;
}

export interface RunningServer {
  name: string;
  port: number;
  url: string;
  health: HealthState;
  close(): Promise<void>;
}

export function connectHandler(
  opts: Pick<ServerOptions, "services" | "routes" | "interceptors" | "maxRequestBytes"> & {
    /** Tried before this server's own unary gRPC methods (the gateway's in-process shortcut). */
    localFirst?: FastDispatcher;
  },
  health: HealthState,
  shutdown: AbortSignal,
) {
  const unary = new Map<string, UnaryEntry>();
  const adapter = connectNodeAdapter({
    routes: (router) => {
      const recorded = recordingRouter(router, unary);
      opts.routes(replayingRouter(recorded));
      healthRoutes(health)(recorded);
      reflectionRoutes([...opts.services, Health, ServerReflection])(router);
    },
    interceptors: [...opts.interceptors, endStreamsOnDrain(health.draining)],
    readMaxBytes: opts.maxRequestBytes,
    writeMaxBytes: opts.maxRequestBytes,
    shutdownSignal: shutdown,
    contextValues: (req) => createContextValues().set(clientIpKey, req.socket?.remoteAddress ?? ""),
  });
  const dispatcher = new UnaryDispatcher(unary, opts.interceptors, shutdown);
  const fast = grpcFastPath(dispatcher, opts.maxRequestBytes);
  const local = opts.localFirst ? grpcFastPath(opts.localFirst, opts.maxRequestBytes) : undefined;
  const handler = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => {
    if (local?.(req as Http2ServerRequest, res as Http2ServerResponse)) return;
    if (fast(req as Http2ServerRequest, res as Http2ServerResponse)) return;
    adapter(req as never, res as never);
  };
  return Object.assign(handler, { dispatcher });
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const health = new HealthState(opts.services.map((s) => s.typeName));
  const shutdown = new AbortController();
  // Every in-flight call links its own signal to this one; thousands at once is normal.
  setMaxListeners(0, shutdown.signal);
  const handler = connectHandler(opts, health, shutdown.signal);
  const server = http2.createServer({ maxSessionMemory: 64 }, handler);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const withdraw = registerLocal(opts.services.map((s) => s.typeName), port, handler.dispatcher);
  const unlist = health.registerInProcess();
  log.info({ service: opts.name, port }, "service listening");
  return {
    name: opts.name,
    port,
    url: `http://${opts.host === "0.0.0.0" ? "127.0.0.1" : opts.host}:${port}`,
    health,
    close: async () => {
      withdraw();
      await drain(server, sessions, health, shutdown, opts.drainTimeoutMs);
      unlist();
    },
  };
}

export async function drain(
  server: http2.Http2Server | import("node:net").Server,
  sessions: Set<http2.ServerHttp2Session> | Set<import("node:net").Socket>,
  health: HealthState,
  shutdown: AbortController,
  drainTimeoutMs: number,
): Promise<void> {
  health.hold(DRAINING, true);
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // GOAWAY: clients stop opening streams here; open streams may finish.
  for (const s of sessions) {
    if ("close" in s && typeof (s as http2.ServerHttp2Session).goaway === "function") (s as http2.ServerHttp2Session).close();
    else (s as import("node:net").Socket).end();
  }
  const timer = setTimeout(() => {
    shutdown.abort();
    for (const s of sessions) (s as { destroy(): void }).destroy();
  }, drainTimeoutMs);
  await closed;
  clearTimeout(timer);
  shutdown.abort();
}

/**
 * Ends every server stream, cleanly, when the server starts to drain. A stream (a watch)
 * runs until its client leaves, so a drain that waited for streams would always take
 * the whole DRAIN_TIMEOUT_MS; unary calls finish, streams end at once and their clients
 * reconnect (to another replica). Innermost, so the access log sees the stream end.
 */
export function endStreamsOnDrain(draining: AbortSignal): Interceptor {
  return (next) => async (req) => {
    const res = await next(req);
    if (!res.stream) return res;
    return { ...res, message: untilAborted(res.message, draining) } as StreamResponse;
  };
}

async function* untilAborted<T>(messages: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const it = messages[Symbol.asyncIterator]();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<"aborted">((resolve) => {
    onAbort = () => resolve("aborted");
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    for (;;) {
      const r = await Promise.race([it.next(), aborted]);
      if (r === "aborted" || r.done) return;
      yield r.value;
    }
  } finally {
    signal.removeEventListener("abort", onAbort!);
    // The handler may be waiting for its next message; it ends when it wakes (or when the
    // call's own signal is aborted), not held up by this.
    void it.return?.()?.catch(() => undefined);
  }
}
