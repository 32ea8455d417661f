// TransactionService when its Redis fails: the service runs in its own process and reaches
// Redis through a proxy the test cuts, so only its idempotency fast path loses Redis (the
// gateway and the other services in the test process keep theirs). Through the gateway,
// with the POS terminal's grpc-js client:
// - Redis unreachable: money-moving calls go on under their Postgres guard (same answers,
//   same key rules); GenerateQrCode, which has no other guard, is refused UNAVAILABLE
//   before doing anything; both work again once Redis is back.
// - Redis lost after the work committed: the answer is the success, never INTERNAL, and
//   the retry with the key gets the same sale.
// - Redis lost before a failed call releases its key: the answer is the call's own error.
import { randomUUID } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import pg from "pg";
import * as assert from "uvu/assert";
import { FuelType } from "../gen/fuel/common/v1/common_pb.js";
import { TransactionService, TransactionStatus } from "../gen/fuel/transaction/v1/transaction_pb.js";
import { reasonOf } from "../platform/errors.js";
import { creditSuite, Fixtures, ngn } from "./credit-fixtures.js";
import { asTerminal, authorizeRequest, qrPayload, saleFacts, saleWorld, settleRequest, type SaleWorld } from "./helpers/sale-world.js";
import { TcpProxy, viaProxy } from "./helpers/tcp-proxy.js";
import { systemAroundChild, TransactionChild } from "./helpers/transaction-child.js";
import { realPostgres, realRedis, type TestSystem } from "./helpers/system.js";

const test = creditSuite("transaction redis");
let sys: TestSystem;
let fx: Fixtures;
let db: pg.Client;
let child: TransactionChild;
let proxy: TcpProxy;
let w: SaleWorld;
const REAL = realPostgres() && realRedis();

const AMOUNT = 10_000_00n;
const VOLUME_ML = 5_000n;

test.before(async () => {
  if (!REAL) {
    console.log("  (transaction redis: needs a real PostgreSQL and Redis to cut; CI runs it)");
    return;
  }
  const around = await systemAroundChild();
  sys = around.sys;
  const target = new URL(process.env.REDIS_URL!);
  proxy = await TcpProxy.start(target.hostname, Number(target.port || 6379));
  child = new TransactionChild(sys, around.port, viaProxy(process.env.REDIS_URL!, proxy));
  fx = await Fixtures.create(sys);
  db = new pg.Client({ connectionString: sys.databaseUrl });
  await db.connect();
  w = await saleWorld(sys, fx);
  await child.start();
});

test.after(async () => {
  await child?.stop();
  await proxy?.close();
  w?.pos.close();
  await db?.end();
  await sys?.stop();
});

const key = () => randomUUID();

async function refusedWith(p: Promise<unknown>, code: grpc.status, reason: string): Promise<void> {
  try {
    await p;
  } catch (err) {
    const e = err as grpc.ServiceError;
    if (e.code === undefined) throw err;
    assert.is(grpc.status[e.code], grpc.status[code], e.details);
    const details = e.metadata?.get("grpc-status-details-bin")[0];
    if (details) assert.ok(Buffer.from(details as Buffer).includes(Buffer.from(reason)), `${reason} in ${e.details}`);
    return;
  }
  assert.unreachable(`expected ${grpc.status[code]} ${reason}`);
}

async function connectRefused(p: Promise<unknown>, code: Code, reason: string): Promise<void> {
  try {
    await p;
  } catch (err) {
    const ce = ConnectError.from(err);
    assert.is(Code[ce.code], Code[code], ce.message);
    assert.is(reasonOf(ce), reason, ce.message);
    return;
  }
  assert.unreachable(`expected ${reason}`);
}

const qrCount = async () => (await db.query(`SELECT count(*)::int AS n FROM transaction.qr_codes WHERE driver_id = $1`, [w.driverId])).rows[0].n as number;

/**
 * Runs `start` while `table` is locked against it, cuts Redis once TransactionService's
 * call waits on the lock (its key already claimed), then lets the call finish.
 */
async function cutRedisMidCall<T>(table: string, mode: string, start: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; err: unknown }> {
  const locker = new pg.Client({ connectionString: sys.databaseUrl });
  await locker.connect();
  try {
    await locker.query("BEGIN");
    await locker.query(`LOCK TABLE ${table} IN ${mode} MODE`);
    const p = start().then((value) => ({ ok: true as const, value }), (err: unknown) => ({ ok: false as const, err }));
    for (let i = 0; ; i++) {
      const r = await db.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'transaction' AND wait_event_type = 'Lock'`);
      if (r.rows[0].n > 0) break;
      if (i > 200) throw new Error("the call never reached the lock");
      await new Promise((res) => setTimeout(res, 25));
    }
    proxy.cut();
    await locker.query("COMMIT");
    return await p;
  } finally {
    await locker.end();
  }
}

test("Redis unreachable: sales go on under the Postgres guard, GenerateQrCode is refused UNAVAILABLE before any work; both recover", async () => {
  if (!REAL) return;
  const qr = await qrPayload(w);
  proxy.cut();
  try {
    // No other guard: refused, retryably, and nothing written.
    const before = await qrCount();
    await connectRefused(w.app.generateQrCode({ fuelType: FuelType.PETROL }, { headers: { "idempotency-key": key() } }), Code.Unavailable, "IDEMPOTENCY_STORE_UNAVAILABLE");
    assert.is(await qrCount(), before, "no QR was issued");

    // Money moves under the Postgres guard, with the same key rules.
    const authKey = key();
    const req = authorizeRequest(w, qr.payload, AMOUNT);
    const a = (await w.pos.unary(TransactionService.method.authorize, req, { "idempotency-key": authKey })).message.transaction!;
    assert.is(a.status, TransactionStatus.AUTHORIZED);
    const again = (await w.pos.unary(TransactionService.method.authorize, req, { "idempotency-key": authKey })).message.transaction!;
    assert.is(again.transactionId, a.transactionId, "the retry is the same sale");
    await refusedWith(w.pos.unary(TransactionService.method.authorize, { ...req, requestedAmount: ngn(1n) }, { "idempotency-key": authKey }),
      grpc.status.INVALID_ARGUMENT, "IDEMPOTENCY_KEY_REUSED");
    const settleKey = key();
    const s = (await w.pos.unary(TransactionService.method.settle, settleRequest(a.transactionId, VOLUME_ML), { "idempotency-key": settleKey })).message.transaction!;
    assert.is(s.status, TransactionStatus.SETTLED);
    const s2 = (await w.pos.unary(TransactionService.method.settle, settleRequest(a.transactionId, VOLUME_ML), { "idempotency-key": settleKey })).message.transaction!;
    assert.is(s2.loanId, s.loanId);
    const f = await saleFacts(db, a.transactionId);
    assert.equal([f.state, f.holds, f.captures, f.loans], ["SETTLED", 1, 1, 1]);
  } finally {
    proxy.restore();
  }
  // Back: the refused call goes through on retry (the client reconnects by itself).
  const started = performance.now();
  // (a ConnectError's code is numbered as gRPC's status, which asTerminal reads)
  const again = await asTerminal(() => w.app.generateQrCode({ fuelType: FuelType.PETROL }, { headers: { "idempotency-key": key() } }));
  console.log(`\n  GenerateQrCode answered again ${((performance.now() - started) / 1000).toFixed(2)} s after Redis came back`);
  assert.ok(again.value.qrCode?.qrCodeId);
});

test("Redis lost after the work committed: Authorize and Settle answer their success, never INTERNAL; the retry gets the same sale", async () => {
  if (!REAL) return;
  const qr = await qrPayload(w);
  const authKey = key();
  const req = authorizeRequest(w, qr.payload, AMOUNT);
  const auth = await cutRedisMidCall("transaction.transactions", "SHARE", () => w.pos.unary(TransactionService.method.authorize, req, { "idempotency-key": authKey }));
  proxy.restore();
  assert.ok(auth.ok, `Authorize answered ${String(!auth.ok && (auth.err as Error).message)}`);
  const t = auth.value.message.transaction!;
  assert.is(t.status, TransactionStatus.AUTHORIZED);
  // Its "done" record never reached Redis; its claim lapses, and the retry is answered by the Postgres guard.
  const retry = await asTerminal(() => w.pos.unary(TransactionService.method.authorize, req, { "idempotency-key": authKey }));
  assert.is(retry.value.message.transaction!.transactionId, t.transactionId);

  const settleKey = key();
  const sreq = settleRequest(t.transactionId, VOLUME_ML);
  const settled = await cutRedisMidCall("transaction.transactions", "SHARE", () => w.pos.unary(TransactionService.method.settle, sreq, { "idempotency-key": settleKey }));
  proxy.restore();
  assert.ok(settled.ok, `Settle answered ${String(!settled.ok && (settled.err as Error).message)}`);
  const s = settled.value.message.transaction!;
  assert.is(s.status, TransactionStatus.SETTLED);
  const sRetry = await asTerminal(() => w.pos.unary(TransactionService.method.settle, sreq, { "idempotency-key": settleKey }));
  assert.is(sRetry.value.message.transaction!.loanId, s.loanId);
  const f = await saleFacts(db, t.transactionId);
  assert.equal([f.state, f.holds, f.captures, f.loans], ["SETTLED", 1, 1, 1]);

  // Not money, same rule: the QR was issued, so the driver gets it.
  const issued = await cutRedisMidCall("transaction.qr_codes", "SHARE", () => w.app.generateQrCode({ fuelType: FuelType.PETROL }, { headers: { "idempotency-key": key() } }));
  proxy.restore();
  assert.ok(issued.ok, `GenerateQrCode answered ${String(!issued.ok && (issued.err as Error).message)}`);
  assert.ok(issued.value.qrCode?.qrCodeId);

  const ledger = await fx.creditAdmin().verifyLedger({});
  assert.ok(ledger.consistent);
});

test("Redis lost before a failed call releases its key: the answer is the call's own error", async () => {
  if (!REAL) return;
  const qr = await qrPayload(w);
  const t = (await w.pos.unary(TransactionService.method.authorize, authorizeRequest(w, qr.payload, 1_000n), { "idempotency-key": key() })).message.transaction!;
  const tooMuch = { transactionId: t.transactionId, dispensed: { case: "amount" as const, value: ngn(1_001n) } };
  const r = await cutRedisMidCall("transaction.transactions", "ACCESS EXCLUSIVE", () => w.pos.unary(TransactionService.method.settle, tooMuch, { "idempotency-key": key() }));
  proxy.restore();
  assert.not.ok(r.ok);
  const e = (r as { err: grpc.ServiceError }).err;
  assert.is(grpc.status[e.code], "FAILED_PRECONDITION", e.details);
  assert.match(e.details, /above the approved/);
});

test.run();
