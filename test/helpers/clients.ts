// Real clients, as each kind of caller uses them: Connect JSON over HTTP/1.1 (the mobile
// app), and grpc-js over HTTP/2 (POS terminals, bank core systems).
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMessage, type DescMethod, type DescService, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";

/** A Connect client speaking JSON over HTTP/1.1 to the gateway, optionally signed in. */
export function connectJson<S extends DescService>(service: S, baseUrl: string, token?: string): Client<S> {
  return createClient(
    service,
    createConnectTransport({
      baseUrl,
      httpVersion: "1.1",
      useBinaryFormat: false,
      interceptors: token ? [(next) => (req) => (req.header.set("authorization", `Bearer ${token}`), next(req))] : [],
    }),
  );
}

/** A raw Connect JSON POST, for tests about the wire (headers, status codes, bodies). */
export async function postJson(baseUrl: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${baseUrl}/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as Record<string, any>) : {} };
}

export interface GrpcJsResult<O> {
  message: O;
  headers: grpc.Metadata;
}

export interface GrpcJsError extends grpc.ServiceError {}

/** A grpc-js client for one service, serializing with protobuf-es. */
export class GrpcJsClient<S extends DescService> {
  private readonly client: grpc.Client;
  constructor(readonly service: S, address: string, private token?: string) {
    this.client = new grpc.Client(address.replace(/^https?:\/\//, ""), grpc.credentials.createInsecure());
  }

  setToken(token: string | undefined) {
    this.token = token;
  }

  unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethod & { input: I; output: O },
    request: MessageInitShape<I> | MessageShape<I>,
    extra: Record<string, string> = {},
  ): Promise<GrpcJsResult<MessageShape<O>>> {
    const md = new grpc.Metadata();
    if (this.token) md.set("authorization", `Bearer ${this.token}`);
    for (const [k, v] of Object.entries(extra)) md.set(k, v);
    const path = `/${this.service.typeName}/${method.name}`;
    return new Promise((resolve, reject) => {
      let headers = new grpc.Metadata();
      const call = this.client.makeUnaryRequest(
        path,
        (m: MessageShape<I>) => Buffer.from(toBinary(method.input, create(method.input, m as MessageInitShape<I>))),
        (b: Buffer) => fromBinary(method.output, b),
        request as MessageShape<I>,
        md,
        { deadline: Date.now() + 10_000 },
        (err, res) => (err ? reject(Object.assign(err, { headers })) : resolve({ message: res!, headers })),
      );
      call.on("metadata", (m) => (headers = m));
    });
  }

  close() {
    this.client.close();
  }
}
