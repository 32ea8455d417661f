// Generic forwarding: for every public method of every service descriptor, a handler
// that calls the owning service over gRPC with the same message and passes back its
// answer, headers and errors. No method is written by hand; a new RPC in a proto is
// exposed by regenerating code.
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import type { Mesh } from "../platform/mesh.js";
import { IDEMPOTENCY_HEADER, REPLAYED_HEADER } from "../platform/interceptors/idempotency.js";
import { publicMethods } from "../platform/policy.js";

/** Request headers the gateway passes on (auth, trace, deadline are handled by the mesh client). */
const FORWARD_REQUEST_HEADERS = [IDEMPOTENCY_HEADER];
/** Response headers the gateway passes back. */
const FORWARD_RESPONSE_HEADERS = [REPLAYED_HEADER];

type AnyFn = (req: unknown, opts: Record<string, unknown>) => unknown;

function callOptions(ctx: HandlerContext) {
  const headers = new Headers();
  for (const h of FORWARD_REQUEST_HEADERS) {
    const v = ctx.requestHeader.get(h);
    if (v !== null) headers.set(h, v);
  }
  return {
    headers,
    signal: ctx.signal,
    onHeader: (h: Headers) => {
      for (const name of FORWARD_RESPONSE_HEADERS) {
        const v = h.get(name);
        if (v !== null) ctx.responseHeader.set(name, v);
      }
    },
  };
}

/**
 * An error from the hop, fit to send on: same code, message and details, but without
 * the upstream protocol's headers (content-type, grpc-status…), which would otherwise be
 * written into our own response and confuse a Connect or gRPC-Web client.
 */
function relayError(err: unknown): ConnectError {
  const e = ConnectError.from(err);
  const metadata = new Headers();
  e.metadata.forEach((v, k) => {
    if (!HOP_HEADERS.test(k)) metadata.set(k, v);
  });
  const out = new ConnectError(e.rawMessage, e.code, metadata);
  (out.details as unknown[]).push(...e.details);
  return out;
}

const HOP_HEADERS = /^(content-type|content-length|content-encoding|grpc-.*|connect-.*|accept-encoding|te|trailer|date)$/i;

function forwarder(method: DescMethod, client: Record<string, AnyFn>) {
  const call = client[method.localName]!;
  switch (method.methodKind) {
    case "unary":
      return async (req: unknown, ctx: HandlerContext) => {
        try {
          return await call(req, callOptions(ctx));
        } catch (err) {
          throw relayError(err);
        }
      };
    case "server_streaming":
      return async function* (req: unknown, ctx: HandlerContext) {
        try {
          yield* call(req, callOptions(ctx)) as AsyncIterable<unknown>;
        } catch (err) {
          throw relayError(err);
        }
      };
    default:
      return undefined; // client/bidi streaming: none of our public methods yet
  }
}

export function forwardRoutes(services: DescService[], mesh: Mesh) {
  return (router: ConnectRouter) => {
    for (const service of services) {
      const client = mesh.client(service) as unknown as Record<string, AnyFn>;
      for (const method of publicMethods(service)) {
        const impl = forwarder(method, client);
        if (impl) router.rpc(method as never, impl as never);
      }
    }
  };
}
