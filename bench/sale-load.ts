// The POS terminals of authorize-settle, in a process of their own (as bench/nearby-load.ts
// says why: a small heap of their own, and the bench's collections out of the measured
// requests). Each terminal has its own HTTP/2 connection to the gateway and, for every QR
// it is given, authorizes it and settles 20 L. Mode "plain" is the plain gRPC client
// (grpc-plain.ts) and gives the headline figures; "grpcjs" is grpc-js, reported beside.
//
// Protocol: the options (SaleLoadOptions, JSON) on stdin; on stdout a line
// {"event":"window"} when the measured window starts (after the warm-up, so the parent
// can read its meters), then one line with the result (SaleLoadResult).
import http2, { type ClientHttp2Session } from "node:http2";
import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import {
  AuthorizeRequestSchema, AuthorizeResponseSchema, SettleRequestSchema, SettleResponseSchema, TransactionService,
} from "../gen/fuel/transaction/v1/transaction_pb.js";
import { plainGrpcCall } from "./grpc-plain.js";

export interface SaleLoadOptions {
  mode: "plain" | "grpcjs";
  gatewayUrl: string;
  terminalToken: string;
  stationId: string;
  /** PETROL etc. (the proto enum's number). */
  fuelType: number;
  authAmountMinor: string;
  settleVolumeMl: string;
  priceMinorPerLitre: string;
  /** Sales before the measured window, so neither side is measured cold. */
  warmUpMs: number;
  durationMs: number;
  /** One list of QR payloads per terminal (its concurrency is their number). */
  qrs: string[][];
}

export interface SaleLoadResult {
  /** Completed sales in the measured window, and in the warm-up before it. */
  count: number;
  warmUpCount: number;
  errors: number;
  declined: number;
  tps: number;
  p50_ms: number;
  p99_ms: number;
  /** This process's CPU (all threads) per sale in the window, ms. */
  clientCpuMs: number;
  /** Terminals that ran out of QR codes before the window ended. */
  exhausted: number;
  firstError: string;
}

type Call = <I extends DescMessage, O extends DescMessage>(w: number, path: string, input: I, output: O, msg: MessageInitShape<I>) => Promise<ReturnType<typeof fromBinary<O>>>;

function plainCaller(o: SaleLoadOptions): { call: Call; close(): void } {
  const sessions: ClientHttp2Session[] = o.qrs.map(() => http2.connect(o.gatewayUrl));
  const auth = `Bearer ${o.terminalToken}`;
  return {
    call: async (w, path, input, output, msg) => {
      const body = await plainGrpcCall(sessions[w]!, path, { authorization: auth, "idempotency-key": randomUUID() }, toBinary(input, create(input, msg)));
      return fromBinary(output, body);
    },
    close: () => sessions.forEach((s) => s.close()),
  };
}

function grpcJsCaller(o: SaleLoadOptions): { call: Call; close(): void } {
  const address = o.gatewayUrl.replace(/^https?:\/\//, "");
  const clients = o.qrs.map((_, i) => new grpc.Client(address, grpc.credentials.createInsecure(), { "grpc.channel_id": i } as grpc.ChannelOptions));
  const auth = `Bearer ${o.terminalToken}`;
  return {
    call: (w, path, input, output, msg) => new Promise((resolve, reject) => {
      const md = new grpc.Metadata();
      md.set("authorization", auth);
      md.set("idempotency-key", randomUUID());
      clients[w]!.makeUnaryRequest(path, (m: typeof msg) => Buffer.from(toBinary(input, create(input, m))), (b: Buffer) => fromBinary(output, b),
        msg, md, { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(err) : resolve(res!)));
    }),
    close: () => clients.forEach((c) => c.close()),
  };
}

export async function runSales(o: SaleLoadOptions, onWindow: () => void): Promise<SaleLoadResult> {
  const { call, close } = o.mode === "plain" ? plainCaller(o) : grpcJsCaller(o);
  const authorizePath = `/${TransactionService.typeName}/${TransactionService.method.authorize.name}`;
  const settlePath = `/${TransactionService.typeName}/${TransactionService.method.settle.name}`;
  const requested = { currency: "NGN", amountMinor: BigInt(o.authAmountMinor) };
  const metered = { volumeMl: BigInt(o.settleVolumeMl), priceMinorPerLitre: BigInt(o.priceMinorPerLitre) };
  const next = o.qrs.map(() => 0);
  let errors = 0;
  let declined = 0;
  let firstError = "";
  /** One sale with terminal `w`'s next QR: true when completed, false when declined or failed, null when out of QRs. */
  const sale = async (w: number): Promise<boolean | null> => {
    const qrPayload = o.qrs[w]![next[w]!++];
    if (qrPayload === undefined) return null;
    try {
      const auth = await call(w, authorizePath, AuthorizeRequestSchema, AuthorizeResponseSchema, {
        qrPayload, stationId: o.stationId, fuelType: o.fuelType, requestedAmount: requested, allowPartialApproval: false,
      });
      const txn = auth.transaction;
      if (!txn?.approvedAmount || txn.approvedAmount.amountMinor === 0n) {
        declined++;
        return false;
      }
      await call(w, settlePath, SettleRequestSchema, SettleResponseSchema, { transactionId: txn.transactionId, dispensed: { case: "metered", value: metered } });
      return true;
    } catch (err) {
      if (errors++ === 0) firstError = `${(err as Error).message}`.slice(0, 300);
      return false;
    }
  };
  try {
    let warmUpCount = 0;
    const warmUntil = performance.now() + o.warmUpMs;
    await Promise.all(o.qrs.map(async (_, w) => {
      while (performance.now() < warmUntil) {
        const done = await sale(w);
        if (done === null) break;
        if (done) warmUpCount++;
      }
    }));
    const warmErrors = errors;
    const warmDeclined = declined;
    (globalThis as { gc?: () => void }).gc?.();
    onWindow();
    const latencies: number[] = [];
    let exhausted = 0;
    const end = performance.now() + o.durationMs;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    await Promise.all(o.qrs.map(async (_, w) => {
      while (performance.now() < end) {
        const t = performance.now();
        const done = await sale(w);
        if (done === null) {
          exhausted++;
          break;
        }
        if (done) latencies.push(performance.now() - t);
      }
    }));
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    latencies.sort((a, b) => a - b);
    const q = (p: number) => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0) * 100) / 100;
    return {
      count: latencies.length, warmUpCount, errors: errors - warmErrors, declined: declined - warmDeclined,
      tps: Math.round((latencies.length / elapsed) * 10) / 10, p50_ms: q(0.5), p99_ms: q(0.99),
      clientCpuMs: latencies.length > 0 ? Math.round(((cpu.user + cpu.system) / 1000 / latencies.length) * 100) / 100 : 0,
      exhausted, firstError,
    };
  } finally {
    close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  let input = "";
  for await (const chunk of process.stdin) input += chunk;
  const out = await runSales(JSON.parse(input) as SaleLoadOptions, () => process.stdout.write(`${JSON.stringify({ event: "window" })}\n`));
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(0);
}
