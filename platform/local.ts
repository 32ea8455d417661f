// In-process mesh hops. `npm start` runs every service in one process; a hop between two
// of them need not cross HTTP/2 at all. A server registers its unary dispatcher here and
// a mesh client finds it by service name; the call then runs the callee's whole
// interceptor chain (trace, service-token and user-token checks, deadline, idempotency)
// exactly as a network call would, with the request copied through its wire format so
// the callee never shares the caller's objects. Streams and services in other processes
// go over the network.
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type { UnaryRequest, UnaryResponse } from "@connectrpc/connect";
import { context, ROOT_CONTEXT } from "@opentelemetry/api";
import { currentCall } from "./context.js";
import type { UnaryDispatcher, UnaryEntry } from "./grpc-fast.js";
import { grpcTimeout } from "./grpc-wire.js";

// Keyed by service and port, so a process that runs two systems side by side (tests do
// not, but nothing forbids it) never sends one system's hop to the other's server.
const byService = new Map<string, UnaryDispatcher>();
const keyOf = (typeName: string, port: string | number) => `${typeName}@${port}`;

/** Makes these services reachable in-process; returns the function that withdraws them. */
export function registerLocal(typeNames: string[], port: number, dispatcher: UnaryDispatcher): () => void {
  for (const t of typeNames) byService.set(keyOf(t, port), dispatcher);
  return () => {
    for (const t of typeNames) if (byService.get(keyOf(t, port)) === dispatcher) byService.delete(keyOf(t, port));
  };
}

export interface LocalTarget {
  dispatcher: UnaryDispatcher;
  entry: UnaryEntry;
}

/** The port a service at `baseUrl` is registered under here (its URL's port, or the scheme's default). */
export function portOf(baseUrl: string): string {
  const u = new URL(baseUrl);
  return u.port || (u.protocol === "https:" ? "443" : "80");
}

/** The in-process server for a hop to `port`, if there is one. */
export function findLocal(serviceTypeName: string, methodName: string, port: string): LocalTarget | undefined {
  if (byService.size === 0) return undefined;
  const dispatcher = byService.get(keyOf(serviceTypeName, port));
  const entry = dispatcher?.find(`/${serviceTypeName}/${methodName}`);
  return dispatcher && entry ? { dispatcher, entry } : undefined;
}

/** What a network hop would mark as the peer address of an in-process call. */
export const LOCAL_PEER = "in-process";

export async function callLocal(target: LocalTarget, req: UnaryRequest, timeoutMs: number | undefined): Promise<UnaryResponse> {
  const { method } = target.entry;
  const message = fromBinary(method.input, toBinary(req.method.input, req.message));
  if (timeoutMs !== undefined) req.header.set("grpc-timeout", grpcTimeout(timeoutMs));
  // The callee starts from an empty context, as it would in its own process: the
  // caller's call info (its user, deadline, signal) must not leak into it — the callee's
  // own token checks would otherwise run as the caller and could wait on themselves.
  const out = await currentCall.exit(() =>
    context.with(ROOT_CONTEXT, () =>
      target.dispatcher.dispatch(target.entry, message, req.header, { url: req.url, signal: req.signal, clientIp: LOCAL_PEER }),
    ),
  );
  return {
    stream: false,
    service: req.service,
    method: req.method,
    header: out.header,
    trailer: out.trailer,
    // The callee built this message for us and keeps no hold on it (a stored replay is
    // kept as bytes), so it is handed over without a copy; the request above is copied
    // because a caller may reuse its own.
    message: out.message,
  } as UnaryResponse;
}
