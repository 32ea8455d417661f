// grpc-edge-vs-grpc-js: how fast our public gRPC edge answers compared with a plain
// grpc-js server on the same machine in the same run. Both serve grpc.health.v1.Health/
// Check (no I/O behind it), so the figure is the cost of the edge itself: HTTP/2, the
// protocol, interceptors. Load comes from grpc-js clients, as POS terminals would send.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { HealthCheckRequestSchema, HealthCheckResponseSchema } from "../gen/grpc/health/v1/health_pb.js";

export interface LoadResult {
  tps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
}

const PATH = "/grpc.health.v1.Health/Check";
const reqBytes = Buffer.from(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema)));

/** Drives `concurrency` loops of unary calls for `durationMs` over `channels` connections. */
export async function drive(address: string, concurrency: number, durationMs: number, channels = 4): Promise<LoadResult> {
  const clients = Array.from({ length: Math.min(channels, concurrency) }, (_, i) =>
    new grpc.Client(address, grpc.credentials.createInsecure(), { "grpc.channel_id": i } as grpc.ChannelOptions));
  const latencies: number[] = [];
  let errors = 0;
  const call = (c: grpc.Client) =>
    new Promise<void>((resolve) => {
      const t = performance.now();
      c.makeUnaryRequest(PATH, (b: Buffer) => b, (b: Buffer) => b, reqBytes, (err) => {
        if (err) errors++;
        else latencies.push(performance.now() - t);
        resolve();
      });
    });
  // Warm up connections.
  await Promise.all(clients.map((c) => call(c)));
  latencies.length = 0;
  const end = performance.now() + durationMs;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async (_, i) => {
    const c = clients[i % clients.length]!;
    while (performance.now() < end) await call(c);
  }));
  const elapsed = (performance.now() - t0) / 1000;
  for (const c of clients) c.close();
  latencies.sort((a, b) => a - b);
  const q = (p: number) => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0) * 100) / 100;
  return { tps: Math.round(latencies.length / elapsed), p50_ms: q(0.5), p99_ms: q(0.99), errors };
}

/** A plain grpc-js server answering Health/Check: the baseline. */
export async function plainGrpcJs(): Promise<{ address: string; close(): Promise<void> }> {
  const server = new grpc.Server();
  server.register(
    PATH,
    (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      fromBinary(HealthCheckRequestSchema, call.request);
      cb(null, Buffer.from(toBinary(HealthCheckResponseSchema, create(HealthCheckResponseSchema, { status: 1 }))));
    },
    (b: Buffer) => b,
    (b: Buffer) => b,
    "unary",
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { address: `127.0.0.1:${port}`, close: () => new Promise((r) => server.tryShutdown(() => r())) };
}

/**
 * The baseline server in its own process, as our gateway is in the mesh's: both answer
 * over a process boundary, so neither shares an event loop with the load generator.
 */
async function plainGrpcJsProcess(): Promise<{ address: string; close(): Promise<void> }> {
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "serve-plain"], { stdio: ["ignore", "pipe", "inherit"] });
  const address = await new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", (c: Buffer) => {
      const m = /listening (\S+)/.exec(c.toString());
      if (m) resolve(m[1]!);
    });
    child.once("exit", (code) => reject(new Error(`plain grpc-js server exited ${code}`)));
  });
  return {
    address,
    close: async () => {
      const gone = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await gone;
    },
  };
}

export async function benchGrpcEdge(gatewayAddress: string, opts: { durationMs?: number } = {}): Promise<object[]> {
  const durationMs = opts.durationMs ?? 4_000;
  const plain = await plainGrpcJsProcess();
  const rows: object[] = [];
  try {
    for (const concurrency of [1, 32]) {
      const base = await drive(plain.address, concurrency, durationMs);
      const ours = await drive(gatewayAddress, concurrency, durationMs);
      rows.push({ scenario: "grpc-edge-vs-grpc-js", concurrency, tps: ours.tps, p50_ms: ours.p50_ms, p99_ms: ours.p99_ms, baseline_tps: base.tps, ratio: Math.round((ours.tps / base.tps) * 100) / 100, errors: ours.errors + base.errors });
    }
  } finally {
    await plain.close();
  }
  return rows;
}

if (process.argv[2] === "serve-plain") {
  const plain = await plainGrpcJs();
  process.stdout.write(`listening ${plain.address}\n`);
  process.on("SIGTERM", () => void plain.close().then(() => process.exit(0)));
}
