// The gateway's shortcut to services running in its own process (`npm start` runs them
// all in one). A forwarded call runs two interceptor chains — the gateway's and the
// service's — and a mesh hop between them; for a unary gRPC call to a public method of a
// service in this process, the gateway instead hands the call to that service's own
// chain, as the gateway: with the gateway's service token, the client's socket address,
// and marked as having entered at the edge so that chain spends the caller's rate-limit
// budget. The checks the service runs are the ones it runs for a forwarded call; what
// is saved is the gateway's duplicate of them (span, token check, deadline) and the hop
// (0.1–0.6 ms of CPU per call in interleaved runs; README, Architecture).
//
// Services in other processes, streams, and the Connect and gRPC-Web protocols are
// forwarded as before (gateway/forward.ts).
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type UnaryResponse } from "@connectrpc/connect";
import type { ArrivedVia, FastDispatcher, UnaryEntry } from "../platform/grpc-fast.js";
import { CLIENT_IP_HEADER, SERVICE_TOKEN_HEADER } from "../platform/interceptors/authenticate.js";
import { REPLAYED_HEADER } from "../platform/interceptors/idempotency.js";
import { TRACE_HEADER } from "../platform/interceptors/observe.js";
import { findLocal, portOf, type LocalTarget } from "../platform/local.js";
import { log } from "../platform/logger.js";
import { rpcRecorder } from "../platform/metrics.js";
import { GATEWAY_SERVICE, publicMethods } from "../platform/policy.js";
import type { ServiceTokens } from "../platform/tokens.js";

/** Headers only a mesh peer may send; a client's are dropped, as a forwarded call drops them. */
const MESH_ONLY_HEADERS = [SERVICE_TOKEN_HEADER, CLIENT_IP_HEADER];
/** Response headers a client sees, as from a forwarded call. */
const PASSED_BACK = [TRACE_HEADER, REPLAYED_HEADER];

interface Route {
  service: DescService;
  method: DescMethod;
  /** Port of the service's own server: the key of its in-process registration. */
  port: string;
}

type EdgeEntry = UnaryEntry & { local: LocalTarget };

/** The edge's RPC metrics, as the gateway records for every call it forwards. */
const recordEdge = rpcRecorder(GATEWAY_SERVICE);

export class LocalEdge implements FastDispatcher {
  private readonly routes = new Map<string, Route>();

  constructor(services: DescService[], urls: Record<string, string>, private readonly tokens: ServiceTokens) {
    for (const service of services) {
      const url = urls[service.typeName.split(".")[1] ?? ""];
      if (!url) continue;
      const port = portOf(url);
      for (const method of publicMethods(service)) {
        if (method.methodKind === "unary") this.routes.set(`/${service.typeName}/${method.name}`, { service, method, port });
      }
    }
  }

  /** A public unary method whose service runs in this process right now, else undefined. */
  find(path: string): EdgeEntry | undefined {
    const route = this.routes.get(path);
    if (!route) return undefined;
    // Looked up per call: a service that stops withdraws its registration.
    const local = findLocal(route.service.typeName, route.method.name, route.port);
    return local ? { ...local.entry, local } : undefined;
  }

  async dispatch(entry: UnaryEntry, message: unknown, header: Headers, how: ArrivedVia): Promise<UnaryResponse> {
    const { local } = entry as EdgeEntry;
    for (const h of MESH_ONLY_HEADERS) header.delete(h);
    header.set(SERVICE_TOKEN_HEADER, await this.tokens.token());
    const started = performance.now();
    let code = "ok";
    let status = 0;
    let traceId: string | null = null;
    try {
      const out = await local.dispatcher.dispatch(local.entry, message, header, { ...how, atEdge: true });
      traceId = out.header.get(TRACE_HEADER);
      return { ...out, header: pick(out.header, PASSED_BACK), trailer: new Headers() };
    } catch (err) {
      const ce = ConnectError.from(err);
      code = Code[ce.code];
      status = ce.code;
      traceId = ce.metadata.get(TRACE_HEADER);
      throw ce;
    } finally {
      // The edge's access-log line, as the gateway writes for every call it forwards.
      const elapsedMs = performance.now() - started;
      recordEdge(entry.method, status, elapsedMs / 1000);
      const ms = Math.round(elapsedMs * 10) / 10;
      log.info({ service: GATEWAY_SERVICE, rpc: `${entry.service.typeName}/${entry.method.name}`, code, ms, trace_id: traceId ?? "" }, "rpc");
    }
  }
}

function pick(from: Headers, names: string[]): Headers {
  const out = new Headers();
  for (const n of names) {
    const v = from.get(n);
    if (v !== null) out.set(n, v);
  }
  return out;
}
