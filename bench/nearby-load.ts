// The nearby load generator, in a process of its own: gRPC clients searching through
// the gateway, or the handler's SQL straight over pg (the baseline). Run from the bench's
// own process, the clients shared a heap of hundreds of megabytes with seeding and
// earlier scenarios, and that heap's young-generation collections (15–22 ms, every ~0.7 s)
// landed inside the measured requests: at concurrency 1 they were most of the p99. A phone
// or a POS terminal does not carry our bench's heap; each side now gets a small one.
//
// The clients share the server's two cores, so their own CPU is on every request's path
// at concurrency 1. Measured per call on this machine: grpc-js 1.2–2.3 ms, a plain gRPC
// call over node:http2 0.7–1.3 ms, the baseline's pg query 0.3–0.5 ms. Mode "gateway" is
// that plain client — the gRPC wire protocol itself, one HTTP/2 connection per simulated
// phone, the message length-prefixed, the status read from the trailers — and gives the
// headline figures; "gateway-grpcjs" is grpc-js, reported beside them. Both check each
// response and count its results from the top-level fields without building 20 station
// messages (each client's first answer is also decoded in full and must agree): with
// protobuf-es building them, the client's own young-generation collections (8–16 ms,
// three a second, on both cores) were in about 40 % of the slowest requests. Mode
// "gateway-decoding" is grpc-js building every message, for comparison. Every mode
// reports its CPU per request. The baseline's pg client parses every row: that parsing
// is the server's work there.
//
// `node --import tsx bench/nearby-load.ts '<json options>'` prints one JSON line.
import http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  FindFillUpStationsRequestSchema,
  FindFillUpStationsResponseSchema,
  SearchNearbyRequestSchema,
  SearchNearbyResponseSchema,
  StationService,
} from "../gen/fuel/station/v1/station_pb.js";
import { fillUpRows } from "../services/station/fill-up-sql.js";
import { createPool } from "../platform/db.js";
import { plainGrpcCall } from "./grpc-plain.js";
import * as store from "../services/station/store.js";
import { GrpcJsClient } from "../test/helpers/clients.js";

export interface LoadOptions {
  /** "fillup": FindFillUpStations through the gateway (plain client); "fillup-sql": its query over pg. */
  mode: "gateway" | "gateway-grpcjs" | "gateway-decoding" | "sql" | "fillup" | "fillup-sql";
  gatewayUrl: string;
  databaseUrl: string;
  token: string;
  concurrency: number;
  durationMs: number;
  radiusM: number;
  pageSize: number;
  area: { minLat: number; maxLat: number; minLng: number; maxLng: number };
}

export interface Measured {
  tps: number;
  p50: number;
  p99: number;
  count: number;
  results: number;
  /** This process's CPU time (all threads) per request, ms. */
  cpuMs: number;
}

/**
 * Searches before the measured window. A server that has answered a few hundred searches
 * is not yet the one that answers them all day: V8 optimises a function only after it has
 * run a while, and the first 5 s of searches after 200 warm-up calls cost the mesh 20–35 %
 * more CPU each than the next 5 s (1.06 → 0.68 ms for GetJwks, 2.65 → 2.05 ms for a
 * search, measured on this machine). One second of warm-up measured mostly that.
 */
const WARM_UP_MS = 3_000;

/** Deterministic pseudo-random search points inside the area. */
export function points(area: LoadOptions["area"], count: number): Array<{ latitude: number; longitude: number }> {
  let x = 123456789;
  const rnd = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648);
  return Array.from({ length: count }, () => ({
    latitude: area.minLat + rnd() * (area.maxLat - area.minLat),
    longitude: area.minLng + rnd() * (area.maxLng - area.minLng),
  }));
}

/** Runs `op` from `concurrency` workers for `durationMs`, after WARM_UP_MS of the same. */
async function measure(concurrency: number, durationMs: number, op: (worker: number, i: number) => Promise<number>): Promise<Measured> {
  const warmUntil = Date.now() + Math.min(WARM_UP_MS, durationMs);
  await Promise.all(Array.from({ length: concurrency }, async (_, w) => {
    for (let i = 0; Date.now() < warmUntil; i++) await op(w, i);
  }));
  // Start the window with an empty young generation (bench/nearby.ts gives this process a
  // fixed one), so the client's own collections fall outside it as far as they can.
  (globalThis as { gc?: () => void }).gc?.();
  const latencies: number[] = [];
  let results = 0;
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  const end = Date.now() + durationMs;
  await Promise.all(Array.from({ length: concurrency }, async (_, w) => {
    for (let i = 0; Date.now() < end; i++) {
      const t = performance.now();
      const found = await op(w, i * concurrency + w);
      latencies.push(performance.now() - t);
      results += found;
    }
  }));
  const elapsed = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * (latencies.length - 1)))] ?? 0;
  const cpuMs = latencies.length > 0 ? (cpu.user + cpu.system) / 1000 / latencies.length : 0;
  return { tps: latencies.length / elapsed, p50: pct(0.5), p99: pct(0.99), count: latencies.length, results, cpuMs };
}

export async function runLoad(o: LoadOptions): Promise<Measured> {
  const pts = points(o.area, 4096);
  const pt = (i: number) => pts[i % pts.length]!;
  if (o.mode === "sql") {
    const pool = createPool({ connectionString: o.databaseUrl, max: o.concurrency, application: "bench-nearby" });
    try {
      return await measure(o.concurrency, o.durationMs, async (_, i) => {
        const rows = await store.nearbyRaw(pool, { center: pt(i), radiusM: o.radiusM, fuelType: null, sort: "DISTANCE", after: null, limit: o.pageSize + 1, withFuels: true });
        return Math.min(rows.length, o.pageSize);
      });
    } finally {
      await pool.end();
    }
  }
  if (o.mode === "fillup-sql") {
    const pool = createPool({ connectionString: o.databaseUrl, max: o.concurrency, application: "bench-nearby" });
    try {
      return await measure(o.concurrency, o.durationMs, async (_, i) => {
        // What the handler asks of the database for a driver whose line allows every fuel
        // and station: fresh prices of the last day, nearest first.
        const rows = await fillUpRows(pool, {
          center: pt(i), radiusM: o.radiusM, fuelTypes: null, currency: "NGN", maxPriceMinorPerLitre: 10n ** 12n, scopes: [], freshSince: new Date(Date.now() - 86_400_000), priceOf: null, limit: o.pageSize * 4,
        });
        return Math.min(rows.length, o.pageSize);
      });
    } finally {
      await pool.end();
    }
  }
  if (o.mode === "fillup") {
    const sessions = Array.from({ length: o.concurrency }, () => http2.connect(o.gatewayUrl));
    const fillPath = `/${StationService.typeName}/${StationService.method.findFillUpStations.name}`;
    const requests = pts.map((location) => toBinary(FindFillUpStationsRequestSchema, create(FindFillUpStationsRequestSchema, { location, radiusM: o.radiusM, pageSize: o.pageSize })));
    const seen = new Set<number>();
    try {
      return await measure(o.concurrency, o.durationMs, async (w, i) => {
        const body = await plainGrpcCall(sessions[w]!, fillPath, { authorization: `Bearer ${o.token}` }, requests[i % requests.length]!);
        const n = countResults(body);
        if (!seen.has(w)) {
          seen.add(w);
          const full = fromBinary(FindFillUpStationsResponseSchema, body);
          if (full.results.length !== n) throw new Error(`counted ${n} results, decoded ${full.results.length}`);
          if (full.cannotBuyReason !== "") throw new Error(`the bench driver cannot buy: ${full.cannotBuyReason}`);
        }
        return n;
      });
    } finally {
      for (const s of sessions) s.close();
    }
  }
  if (o.mode === "gateway-decoding") {
    const clients = Array.from({ length: o.concurrency }, () => new GrpcJsClient(StationService, o.gatewayUrl, o.token));
    try {
      return await measure(o.concurrency, o.durationMs, async (w, i) => {
        const res = await clients[w]!.unary(StationService.method.searchNearby, { location: pt(i), radiusM: o.radiusM, pageSize: o.pageSize });
        return res.message.results.length;
      });
    } finally {
      for (const c of clients) c.close();
    }
  }
  const path = `/${StationService.typeName}/${StationService.method.searchNearby.name}`;
  const checked = new Set<number>();
  /** Counts a response's results; each client's first answer is also decoded in full. */
  const counted = (w: number, body: Uint8Array) => {
    const n = countResults(body);
    if (!checked.has(w)) {
      checked.add(w);
      const full = fromBinary(SearchNearbyResponseSchema, body).results.length;
      if (full !== n) throw new Error(`counted ${n} results, decoded ${full}`);
    }
    return n;
  };
  if (o.mode === "gateway") {
    const sessions = Array.from({ length: o.concurrency }, () => http2.connect(o.gatewayUrl));
    // Encoded once: a phone builds one request per tap, not one per millisecond.
    const requests = pts.map((location) => toBinary(SearchNearbyRequestSchema, create(SearchNearbyRequestSchema, { location, radiusM: o.radiusM, pageSize: o.pageSize })));
    try {
      return await measure(o.concurrency, o.durationMs, async (w, i) => counted(w, await plainGrpcCall(sessions[w]!, path, { authorization: `Bearer ${o.token}` }, requests[i % requests.length]!)));
    } finally {
      for (const s of sessions) s.close();
    }
  }
  const clients = Array.from({ length: o.concurrency }, () => new grpc.Client(o.gatewayUrl.replace(/^https?:\/\//, ""), grpc.credentials.createInsecure()));
  const search = (w: number, i: number) => new Promise<Buffer>((resolve, reject) => {
    const md = new grpc.Metadata();
    md.set("authorization", `Bearer ${o.token}`);
    clients[w]!.makeUnaryRequest(
      path,
      (m: object) => Buffer.from(toBinary(SearchNearbyRequestSchema, create(SearchNearbyRequestSchema, m))),
      (b: Buffer) => b,
      { location: pt(i), radiusM: o.radiusM, pageSize: o.pageSize },
      md,
      { deadline: Date.now() + 10_000 },
      (err, body) => (err ? reject(err) : resolve(body!)),
    );
  });
  try {
    return await measure(o.concurrency, o.durationMs, async (w, i) => counted(w, await search(w, i)));
  } finally {
    for (const c of clients) c.close();
  }
}

/**
 * The number of `results` (field 1) in an encoded SearchNearbyResponse, walking only its
 * top-level fields; throws on a malformed message.
 */
export function countResults(b: Uint8Array): number {
  let i = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      if (i >= b.length || shift > 63) throw new Error("malformed response: varint");
      const byte = b[i++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return value;
    }
  };
  let results = 0;
  while (i < b.length) {
    const tag = varint();
    switch (tag & 7) {
      case 0: varint(); break;
      case 1: i += 8; break;
      case 2: {
        const length = varint();
        i += length;
        if (tag >>> 3 === 1) results++;
        break;
      }
      case 5: i += 4; break;
      default: throw new Error(`malformed response: wire type ${tag & 7}`);
    }
  }
  if (i !== b.length) throw new Error("malformed response: truncated");
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = await runLoad(JSON.parse(process.argv[2]!) as LoadOptions);
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(0);
}
