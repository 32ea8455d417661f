// TransactionService in a child process of its own (bin/mesh.ts with SERVICES=transaction),
// for the suites that kill it (transaction-crash) or cut its Redis (transaction-redis). The
// rest of the system runs in the test process and reaches the child at a fixed address, as
// it would reach a replica on another host; the child uses the suite's database and Redis.
// Also: a TCP proxy whose connections the test can cut, and the world a sale needs.
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import net from "node:net";
import { fileURLToPath } from "node:url";
import type { Client } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import pg from "pg";
import { FuelType, Role } from "../../gen/fuel/common/v1/common_pb.js";
import { JournalEntryKind } from "../../gen/fuel/credit/v1/ledger_pb.js";
import { KycService } from "../../gen/fuel/kyc/v1/kyc_pb.js";
import { LoanService } from "../../gen/fuel/loan/v1/loan_pb.js";
import { StationService } from "../../gen/fuel/station/v1/station_pb.js";
import { TransactionService } from "../../gen/fuel/transaction/v1/transaction_pb.js";
import { freePort, meshReady } from "../../bin/system.js";
import { SERVICE_NAMES } from "../../platform/config.js";
import { clientAs, Fixtures, ngn } from "../credit-fixtures.js";
import { connectJson, GrpcJsClient } from "./clients.js";
import { startTestSystem, type TestSystem } from "./system.js";
import { mintAccessToken, principal, type TokenSource } from "./tokens.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The system without TransactionService, which is expected at `port` (the child's). */
export async function systemAroundChild(): Promise<{ sys: TestSystem; port: number }> {
  const port = await freePort();
  const sys = await startTestSystem({
    services: SERVICE_NAMES.filter((s) => s !== "transaction"),
    mutate: (cfg) => {
      cfg.ports.transaction = port;
      cfg.urls.transaction = `http://127.0.0.1:${port}`;
    },
  });
  return { sys, port };
}

export const exited = (p: ChildProcess) =>
  new Promise<NodeJS.Signals | null>((resolve) =>
    p.exitCode !== null || p.signalCode !== null ? resolve(p.signalCode) : p.once("exit", (_c, sig) => resolve(sig)));

/** One JSON log line of the child (pino), for tests that wait on what it logs. */
export type LogLine = Record<string, unknown> & { msg?: string };

export class TransactionChild {
  proc: ChildProcess | null = null;
  /** performance.now() when the child printed its ready line. */
  readyAt = 0;
  private listeners: Array<(l: LogLine) => void> = [];

  constructor(private readonly sys: TestSystem, private readonly port: number, private readonly redisUrl = process.env.REDIS_URL) {}

  /**
   * Starts the child with the platform's defaults (deadlines included) plus `env`;
   * resolves when it serves. Logs at warn and above reach `onLog` listeners.
   */
  async start(env: Record<string, string> = {}): Promise<ChildProcess> {
    const full: Record<string, string> = {
      PATH: process.env.PATH ?? "",
      SERVICES: "transaction",
      TRANSACTION_PORT: String(this.port),
      DATABASE_URL: this.sys.databaseUrl,
      MESH_SECRET: Buffer.from(this.sys.cfg.meshSecret).toString("base64"),
      DEV_INBOX_PORT: "-1",
      LOG_LEVEL: "warn",
      // Sales need a QR each, and these suites make more than a driver may issue a minute.
      TRANSACTION_QR_PER_MINUTE: "10000",
      ...env,
    };
    if (this.redisUrl) full.REDIS_URL = this.redisUrl;
    for (const s of SERVICE_NAMES) if (s !== "transaction") full[`${s.toUpperCase()}_URL`] = this.sys.cfg.urls[s];
    const p = spawn(process.execPath, ["--import", "tsx", "bin/mesh.ts"], { cwd: ROOT, env: full, stdio: ["ignore", "pipe", "pipe"] });
    let partial = "";
    p.stdout!.on("data", (c: Buffer) => {
      const lines = (partial + c.toString()).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.startsWith("{")) continue;
        try {
          const parsed = JSON.parse(line) as LogLine;
          for (const l of this.listeners) l(parsed);
        } catch {
          // not a log line
        }
      }
    });
    await meshReady(p, 30_000);
    this.readyAt = performance.now();
    this.proc = p;
    return p;
  }

  /** Resolves when `n` log lines match `pred` (counting from now); rejects after `timeoutMs`. */
  waitForLogs(pred: (l: LogLine) => boolean, n: number, timeoutMs = 15_000): Promise<LogLine[]> {
    return new Promise((resolve, reject) => {
      const seen: LogLine[] = [];
      const timer = setTimeout(() => {
        this.listeners = this.listeners.filter((x) => x !== listen);
        reject(new Error(`saw ${seen.length} of ${n} expected log lines in ${timeoutMs} ms`));
      }, timeoutMs);
      const listen = (l: LogLine) => {
        if (!pred(l)) return;
        seen.push(l);
        if (seen.length < n) return;
        clearTimeout(timer);
        this.listeners = this.listeners.filter((x) => x !== listen);
        resolve(seen);
      };
      this.listeners.push(listen);
    });
  }

  /** Kills the child now (SIGKILL) and waits for it to be gone. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    p.kill("SIGKILL");
    await exited(p);
  }

  /** Stops the child gracefully (suite teardown). */
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    p.kill("SIGTERM");
    await exited(p);
  }
}

/**
 * A TCP proxy in front of a server (Redis here), whose connections the test can cut: while
 * cut, open connections are reset and new ones closed at once, as when the server dies.
 */
export class TcpProxy {
  private readonly sockets = new Set<net.Socket>();
  private cutOff = false;
  private constructor(private readonly server: net.Server, readonly port: number) {}

  static async start(targetHost: string, targetPort: number): Promise<TcpProxy> {
    let self!: TcpProxy;
    const server = net.createServer((client) => {
      if (self.cutOff) {
        client.destroy();
        return;
      }
      const upstream = net.connect(targetPort, targetHost);
      for (const s of [client, upstream]) {
        self.sockets.add(s);
        s.on("close", () => self.sockets.delete(s));
        s.on("error", () => undefined);
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    self = new TcpProxy(server, (server.address() as net.AddressInfo).port);
    return self;
  }

  cut(): void {
    this.cutOff = true;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.cutOff = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A redis:// URL with its host and port swapped for the proxy's. */
export function viaProxy(redisUrl: string, proxy: TcpProxy): string {
  const u = new URL(redisUrl);
  u.hostname = "127.0.0.1";
  u.port = String(proxy.port);
  return u.toString();
}

/** What a sale needs: a station selling petrol and its terminal, a bank lending with a loan product, a driver with a line. */
export interface SaleWorld {
  stationId: string;
  pos: GrpcJsClient<typeof TransactionService>;
  driverId: string;
  app: Client<typeof TransactionService>;
}

export const PETROL_PRICE = 65_000n;

export async function saleWorld(sys: TokenSource & { gatewayUrl: string }, fx: Fixtures): Promise<SaleWorld> {
  const kyc = clientAs(KycService, sys.cfg.urls.kyc, fx.adminToken);
  const m = await kyc.createMerchant({ name: "Crash Fuel", registrationNumber: `RC-${randomUUID().slice(0, 8)}`, contactEmail: "ops@crash.example" });
  const merchantId = m.merchant!.merchantId;
  const stations = clientAs(StationService, sys.cfg.urls.station, await mintAccessToken(sys, principal(Role.MERCHANT_ADMIN, { merchantId })));
  const st = await stations.createStation({
    name: "Crash Station", address: { line1: "2 Wharf Road", city: "Lagos", countryCode: "NG" }, location: { latitude: 6.45, longitude: 3.39 },
    currency: "NGN", openingHours: { timeZone: "Africa/Lagos", alwaysOpen: true }, pumps: [{ label: "1", fuelTypes: [FuelType.PETROL] }],
  });
  const stationId = st.station!.stationId;
  await stations.updateFuelAvailability({ stationId, updates: [{ fuelType: FuelType.PETROL, inStock: true, priceMinorPerLitre: PETROL_PRICE, currency: "NGN" }] });
  const pos = new GrpcJsClient(TransactionService, sys.gatewayUrl, await mintAccessToken(sys, principal(Role.POS_TERMINAL, { stationId, merchantId })));

  const bank = await fx.bank(1_000_000_000n);
  await clientAs(LoanService, sys.cfg.urls.loan, bank.token).createLoanProduct({ name: "Fuel 30", currency: "NGN", termDays: 30, isDefault: true });
  const d = await fx.driver();
  await bank.credit.createCreditLine({ owner: { case: "driverId", value: d.driverId }, currency: "NGN" });
  return { stationId, pos, driverId: d.driverId, app: connectJson(TransactionService, sys.gatewayUrl, d.token) };
}

/** A fresh QR of the world's driver (GenerateQrCode runs in the child). */
export async function qrPayload(w: SaleWorld): Promise<{ payload: string; qrCodeId: string }> {
  const qr = (await w.app.generateQrCode({ fuelType: FuelType.PETROL }, { headers: { "idempotency-key": randomUUID() } })).qrCode!;
  return { payload: qr.payload, qrCodeId: qr.qrCodeId };
}

export const authorizeRequest = (w: SaleWorld, payload: string, amountMinor: bigint) =>
  ({ qrPayload: payload, stationId: w.stationId, fuelType: FuelType.PETROL, requestedAmount: ngn(amountMinor) });

export const settleRequest = (transactionId: string, volumeMl: bigint) =>
  ({ transactionId, dispensed: { case: "metered" as const, value: { volumeMl, priceMinorPerLitre: PETROL_PRICE } } });

/** Codes a terminal retries with the same key. */
export const RETRYABLE = new Set([grpc.status.ABORTED, grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.RESOURCE_EXHAUSTED]);

/** Retries a call as a terminal does (same key, every `everyMs`) until it answers or `maxMs` passes. */
export async function asTerminal<T>(fn: () => Promise<T>, everyMs = 100, maxMs = 60_000): Promise<{ value: T; attempts: number }> {
  const started = performance.now();
  for (let attempts = 1; ; attempts++) {
    try {
      return { value: await fn(), attempts };
    } catch (err) {
      const code = (err as grpc.ServiceError).code;
      if (!RETRYABLE.has(code) || performance.now() - started > maxMs) throw err;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }
}

/** The money facts of one sale, from the services' own tables. */
export interface SaleFacts {
  state: string;
  holds: number;
  holdStatus: string | null;
  captures: number;
  loans: number;
  loanId: string | null;
  recoverAfter: Date | null;
}

export async function saleFacts(db: pg.Client, transactionId: string): Promise<SaleFacts> {
  const r = await db.query(
    `SELECT t.state, t.loan_id::text AS loan_id, t.recover_after,
            (SELECT count(*)::int FROM credit.holds h WHERE h.transaction_id = t.transaction_id) AS holds,
            (SELECT max(h.status) FROM credit.holds h WHERE h.transaction_id = t.transaction_id) AS hold_status,
            (SELECT count(*)::int FROM credit.journal_entries j WHERE j.transaction_id = t.transaction_id AND j.kind = $2) AS captures,
            (SELECT count(*)::int FROM loan.loans l WHERE l.transaction_id = t.transaction_id) AS loans
       FROM transaction.transactions t WHERE t.transaction_id = $1`,
    [transactionId, JournalEntryKind.CAPTURE],
  );
  const row = r.rows[0];
  if (!row) throw new Error(`no transaction ${transactionId}`);
  return {
    state: row.state, holds: row.holds, holdStatus: row.hold_status, captures: row.captures, loans: row.loans,
    loanId: row.loan_id, recoverAfter: row.recover_after,
  };
}

/** The transaction a QR started, if its Authorize got as far as recording one. */
export async function transactionOfQr(db: pg.Client, qrCodeId: string): Promise<string | null> {
  const r = await db.query(`SELECT transaction_id::text AS id FROM transaction.transactions WHERE qr_code_id = $1`, [qrCodeId]);
  return r.rows[0]?.id ?? null;
}
