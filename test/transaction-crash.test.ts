// Crash safety of TransactionService: the service runs in its own process (bin/mesh.ts with
// SERVICES=transaction) against the same database, Redis and mesh as the rest of the system,
// and is killed with SIGKILL (TRANSACTION_CRASH_AT) between the hold and its record, and
// between the capture and the loan. After a restart, the POS terminal retries with the same
// idempotency key: exactly one hold, one capture, one loan, and the ledger check is clean.
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import pg from "pg";
import * as assert from "uvu/assert";
import { FuelType, Role } from "../gen/fuel/common/v1/common_pb.js";
import { JournalEntryKind } from "../gen/fuel/credit/v1/ledger_pb.js";
import { KycService } from "../gen/fuel/kyc/v1/kyc_pb.js";
import { LoanService } from "../gen/fuel/loan/v1/loan_pb.js";
import { StationService } from "../gen/fuel/station/v1/station_pb.js";
import { TransactionService, TransactionStatus, type FuelTransaction } from "../gen/fuel/transaction/v1/transaction_pb.js";
import { SERVICE_NAMES } from "../platform/config.js";
import { freePort, meshReady } from "../bin/system.js";
import { clientAs, creditSuite, Fixtures, ngn } from "./credit-fixtures.js";
import { connectJson, GrpcJsClient } from "./helpers/clients.js";
import { realPostgres, realRedis, startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";

const test = creditSuite("transaction crash");
const ROOT = fileURLToPath(new URL("..", import.meta.url));
let sys: TestSystem;
let fx: Fixtures;
let db: pg.Client;
let port: number;
let child: ChildProcess | null = null;
let pos: GrpcJsClient<typeof TransactionService>;
let stationId: string;

/** Starts the transaction service alone in a child process; resolves when it serves. */
async function startChild(crashAt = ""): Promise<ChildProcess> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    SERVICES: "transaction",
    TRANSACTION_PORT: String(port),
    DATABASE_URL: sys.databaseUrl,
    MESH_SECRET: Buffer.from(sys.cfg.meshSecret).toString("base64"),
    DEV_INBOX_PORT: "-1",
    LOG_LEVEL: "error",
    // A crashed request's "running" marker in Redis lives max deadline + 5 s; keep it short.
    MAX_DEADLINE_MS: "2500",
    DEFAULT_DEADLINE_MS: "2500",
    TRANSACTION_SWEEP_MS: "0",
    TRANSACTION_CRASH_AT: crashAt,
  };
  if (process.env.REDIS_URL) env.REDIS_URL = process.env.REDIS_URL;
  for (const s of SERVICE_NAMES) if (s !== "transaction") env[`${s.toUpperCase()}_URL`] = sys.cfg.urls[s];
  const p = spawn(process.execPath, ["--import", "tsx", "bin/mesh.ts"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  await meshReady(p, 30_000);
  child = p;
  return p;
}

const exited = (p: ChildProcess) =>
  new Promise<NodeJS.Signals | null>((resolve) => (p.exitCode !== null || p.signalCode !== null ? resolve(p.signalCode) : p.once("exit", (_c, sig) => resolve(sig))));

/** Retries a call the way a terminal does after a failure, while the key is still marked running. */
async function retry<T>(fn: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (err) {
      const code = (err as grpc.ServiceError).code;
      if (i > 60 || (code !== grpc.status.ABORTED && code !== grpc.status.UNAVAILABLE)) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

async function count(sql: string, params: unknown[]): Promise<number> {
  return (await db.query(sql, params)).rows[0].n as number;
}

test.before(async () => {
  port = await freePort();
  sys = await startTestSystem({
    services: SERVICE_NAMES.filter((s) => s !== "transaction"),
    mutate: (cfg) => {
      cfg.ports.transaction = port;
      cfg.urls.transaction = `http://127.0.0.1:${port}`;
    },
  });
  if (!realPostgres() || !realRedis()) console.log("  (transaction crash: embedded PGlite / in-process store; CI runs it on real PostgreSQL and Redis)");
  fx = await Fixtures.create(sys);
  db = new pg.Client({ connectionString: sys.databaseUrl });
  await db.connect();
  // A station with petrol, its terminal; a bank with a loan product.
  const kyc = clientAs(KycService, sys.cfg.urls.kyc, fx.adminToken);
  const m = await kyc.createMerchant({ name: "Crash Fuel", registrationNumber: `RC-${randomUUID().slice(0, 8)}`, contactEmail: "ops@crash.example" });
  const merchantId = m.merchant!.merchantId;
  const stations = clientAs(StationService, sys.cfg.urls.station, await mintAccessToken(sys, principal(Role.MERCHANT_ADMIN, { merchantId })));
  const st = await stations.createStation({
    name: "Crash Station", address: { line1: "2 Wharf Road", city: "Lagos", countryCode: "NG" }, location: { latitude: 6.45, longitude: 3.39 },
    currency: "NGN", openingHours: { timeZone: "Africa/Lagos", alwaysOpen: true }, pumps: [{ label: "1", fuelTypes: [FuelType.PETROL] }],
  });
  stationId = st.station!.stationId;
  await stations.updateFuelAvailability({ stationId, updates: [{ fuelType: FuelType.PETROL, inStock: true, priceMinorPerLitre: 65_000n, currency: "NGN" }] });
  pos = new GrpcJsClient(TransactionService, sys.gatewayUrl, await mintAccessToken(sys, principal(Role.POS_TERMINAL, { stationId, merchantId })));
});

test.after(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill("SIGTERM");
    await exited(child);
  }
  pos?.close();
  await db?.end();
  await sys?.stop();
});

test("SIGKILL between hold and record, and between capture and loan: a retry finishes with one hold, one capture, one loan", async () => {
  const bank = await fx.bank(10_000_000n);
  await clientAs(LoanService, sys.cfg.urls.loan, bank.token).createLoanProduct({ name: "Fuel 30", currency: "NGN", termDays: 30, isDefault: true });
  const d = await fx.driver();
  await bank.credit.createCreditLine({ owner: { case: "driverId", value: d.driverId }, currency: "NGN" });

  // 1. Killed after CreditService placed the hold, before the transaction recorded it.
  let p = await startChild("after-hold");
  const app = connectJson(TransactionService, sys.gatewayUrl, d.token);
  const qr = (await app.generateQrCode({ fuelType: FuelType.PETROL }, { headers: { "idempotency-key": randomUUID() } })).qrCode!;
  const authKey = randomUUID();
  const req = { qrPayload: qr.payload, stationId, fuelType: FuelType.PETROL, requestedAmount: ngn(20_000_00n) };
  let failed = false;
  await pos.unary(TransactionService.method.authorize, req, { "idempotency-key": authKey }).catch(() => (failed = true));
  assert.ok(failed, "the terminal saw the call fail");
  assert.is(await exited(p), "SIGKILL");
  const row = (await db.query(`SELECT transaction_id, state FROM transaction.transactions WHERE qr_code_id = $1`, [qr.qrCodeId])).rows[0];
  assert.is(row.state, "PENDING", "intent recorded, result not");
  const txnId = row.transaction_id as string;
  assert.is(await count(`SELECT count(*)::int AS n FROM credit.holds WHERE transaction_id = $1`, [txnId]), 1, "the hold was placed before the crash");

  // 2. Restarted (this time it dies after the capture); the retry records the one hold.
  p = await startChild("after-capture");
  const auth = await retry(() => pos.unary(TransactionService.method.authorize, req, { "idempotency-key": authKey }));
  const t: FuelTransaction = auth.message.transaction!;
  assert.is(t.transactionId, txnId);
  assert.is(t.status, TransactionStatus.AUTHORIZED);
  assert.is(t.approvedAmount?.amountMinor, 20_000_00n);
  assert.is(await count(`SELECT count(*)::int AS n FROM credit.holds WHERE transaction_id = $1`, [txnId]), 1, "still one hold");
  assert.is(await count(`SELECT count(*)::int AS n FROM credit.journal_entries WHERE transaction_id = $1 AND kind = $2`, [txnId, JournalEntryKind.HOLD]), 1);

  const settleKey = randomUUID();
  const settleReq = { transactionId: txnId, dispensed: { case: "metered" as const, value: { volumeMl: 20_500n, priceMinorPerLitre: 65_000n } } };
  failed = false;
  await pos.unary(TransactionService.method.settle, settleReq, { "idempotency-key": settleKey }).catch(() => (failed = true));
  assert.ok(failed);
  assert.is(await exited(p), "SIGKILL");
  assert.is((await db.query(`SELECT state FROM transaction.transactions WHERE transaction_id = $1`, [txnId])).rows[0].state, "CAPTURING");
  assert.is((await db.query(`SELECT status FROM credit.holds WHERE transaction_id = $1`, [txnId])).rows[0].status, "CAPTURED", "captured before the crash");
  assert.is(await count(`SELECT count(*)::int AS n FROM loan.loans WHERE transaction_id = $1`, [txnId]), 0, "no loan yet");

  // 3. Restarted cleanly; the retry of the settlement finishes: one capture, one loan.
  p = await startChild();
  const settled = (await retry(() => pos.unary(TransactionService.method.settle, settleReq, { "idempotency-key": settleKey }))).message.transaction!;
  assert.is(settled.status, TransactionStatus.SETTLED);
  assert.is(settled.settledAmount?.amountMinor, 1_332_500n); // 650.00 × 20.5 l
  assert.ok(settled.loanId);
  assert.is(await count(`SELECT count(*)::int AS n FROM credit.holds WHERE transaction_id = $1`, [txnId]), 1);
  assert.is(await count(`SELECT count(*)::int AS n FROM credit.journal_entries WHERE transaction_id = $1 AND kind = $2`, [txnId, JournalEntryKind.CAPTURE]), 1, "one capture");
  assert.is(await count(`SELECT count(*)::int AS n FROM loan.loans WHERE transaction_id = $1`, [txnId]), 1, "one loan");
  const loan = (await db.query(`SELECT loan_id, principal FROM loan.loans WHERE transaction_id = $1`, [txnId])).rows[0];
  assert.is(loan.loan_id, settled.loanId);
  assert.is(BigInt(loan.principal), 1_332_500n);
  // Once more: the same answer, nothing new.
  const again = (await pos.unary(TransactionService.method.settle, settleReq, { "idempotency-key": settleKey })).message.transaction!;
  assert.is(again.loanId, settled.loanId);
  assert.is(await count(`SELECT count(*)::int AS n FROM loan.loans WHERE transaction_id = $1`, [txnId]), 1);

  const ledger = await fx.creditAdmin().verifyLedger({});
  assert.equal(ledger.differences.length, 0);
  assert.equal(ledger.unbalancedEntryIds, []);
  assert.equal(ledger.inconsistentHoldIds, []);
  assert.ok(ledger.consistent);
});

test.run();
