// TransactionService end to end through the gateway, with the clients that really call
// it: the driver's app over Connect JSON (GenerateQrCode, reads), the station's POS
// terminal over grpc-js (Authorize, Settle, Void), merchant and bank admins over Connect
// JSON. Real CreditService, LoanService, StationService and KycService behind it.
import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import pg from "pg";
import * as assert from "uvu/assert";
import { FuelType, Role } from "../gen/fuel/common/v1/common_pb.js";
import { DeclineReason } from "../gen/fuel/credit/v1/credit_line_pb.js";
import { KycService } from "../gen/fuel/kyc/v1/kyc_pb.js";
import { LoanService } from "../gen/fuel/loan/v1/loan_pb.js";
import { StationService } from "../gen/fuel/station/v1/station_pb.js";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import {
  AuthorizeRequestSchema,
  AuthorizeResponseSchema,
  QrImageFormat,
  TransactionService,
  TransactionStatus,
  type FuelTransaction,
} from "../gen/fuel/transaction/v1/transaction_pb.js";
import { reasonOf } from "../platform/errors.js";
import { sweepOnce } from "../services/transaction/sweeper.js";
import { settingsFromEnv } from "../services/transaction/settings.js";
import { clientAs, creditSuite, Fixtures, ngn } from "./credit-fixtures.js";
import { connectJson, GrpcJsClient } from "./helpers/clients.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";

const test = creditSuite("transaction");
let sys: TestSystem;
let fx: Fixtures;
let db: pg.Client;
const PRICE = 65_000n; // NGN 650.00 per litre, in kobo
const key = () => ({ headers: { "idempotency-key": randomUUID() } });

interface Station { stationId: string; merchantId: string; posSubject: string; pos: GrpcJsClient<typeof TransactionService>; admin: Client<typeof TransactionService> }
let s1: Station; // merchant A
let s2: Station; // merchant B
let bankA: Awaited<ReturnType<Fixtures["bank"]>>;
let d1: { driverId: string; token: string; app: Client<typeof TransactionService> };

/** The ErrorInfo reason of a grpc-js error (from grpc-status-details-bin). */
function grpcReason(err: grpc.ServiceError): string | undefined {
  const raw = err.metadata?.get("grpc-status-details-bin")[0];
  if (!raw) return undefined;
  const status = new BinaryReader(raw as Buffer);
  while (status.pos < status.len) {
    const [field, wire] = status.tag();
    if (field !== 3) {
      status.skip(wire);
      continue;
    }
    const any = new BinaryReader(status.bytes());
    let typeUrl = "";
    let value: Uint8Array = new Uint8Array();
    while (any.pos < any.len) {
      const [f, w] = any.tag();
      if (f === 1) typeUrl = any.string();
      else if (f === 2) value = any.bytes();
      else any.skip(w);
    }
    if (typeUrl.endsWith("google.rpc.ErrorInfo")) return fromBinary(ErrorInfoSchema, value).reason;
  }
  return undefined;
}

async function refused(p: Promise<unknown>, code: Code, reason?: string): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ConnectError || !(err as grpc.ServiceError).metadata) {
      const ce = ConnectError.from(err);
      assert.is(Code[ce.code], Code[code], ce.message);
      if (reason) assert.is(reasonOf(ce), reason, ce.message);
    } else {
      const ge = err as grpc.ServiceError;
      assert.is(Code[ge.code as number], Code[code], ge.details);
      if (reason) assert.is(grpcReason(ge), reason, ge.details);
    }
    return;
  }
  assert.unreachable(`expected ${Code[code]}${reason ? ` ${reason}` : ""}`);
}

async function newStation(kycAdmin: Client<typeof KycService>): Promise<Station> {
  const m = await kycAdmin.createMerchant({ name: `Fuel ${randomUUID().slice(0, 6)}`, registrationNumber: `RC-${randomUUID().slice(0, 8)}`, contactEmail: "ops@fuel.example" });
  const merchantId = m.merchant!.merchantId;
  const adminToken = await mintAccessToken(sys, principal(Role.MERCHANT_ADMIN, { merchantId }));
  const stations = clientAs(StationService, sys.cfg.urls.station, adminToken);
  const st = await stations.createStation({
    name: `Station ${randomUUID().slice(0, 6)}`,
    address: { line1: "1 Marina Road", city: "Lagos", countryCode: "NG" },
    location: { latitude: 6.5244, longitude: 3.3792 },
    currency: "NGN",
    openingHours: { timeZone: "Africa/Lagos", alwaysOpen: true },
    pumps: [{ label: "1", fuelTypes: [FuelType.PETROL, FuelType.DIESEL] }],
  });
  const stationId = st.station!.stationId;
  await stations.updateFuelAvailability({
    stationId,
    updates: [
      { fuelType: FuelType.PETROL, inStock: true, priceMinorPerLitre: PRICE, currency: "NGN" },
      { fuelType: FuelType.DIESEL, inStock: false, priceMinorPerLitre: 70_000n, currency: "NGN" },
    ],
  });
  const posPrincipal = principal(Role.POS_TERMINAL, { stationId, merchantId });
  const posToken = await mintAccessToken(sys, posPrincipal);
  return {
    stationId,
    merchantId,
    posSubject: posPrincipal.subjectId,
    pos: new GrpcJsClient(TransactionService, sys.gatewayUrl, posToken),
    admin: connectJson(TransactionService, sys.gatewayUrl, adminToken),
  };
}

/** A KYC-verified driver with an open root line of `limit` at `bank`. */
async function driverWithLine(bank: typeof bankA, limit?: bigint) {
  const d = await fx.driver();
  await bank.credit.createCreditLine({
    owner: { case: "driverId", value: d.driverId }, currency: "NGN",
    ...(limit ? { limitOverride: ngn(limit), overrideReason: "test" } : {}),
  });
  return { ...d, app: connectJson(TransactionService, sys.gatewayUrl, d.token) };
}

async function qrFor(app: Client<typeof TransactionService>, over: Record<string, unknown> = {}) {
  const r = await app.generateQrCode({ fuelType: FuelType.PETROL, ...over }, key());
  return r.qrCode!;
}

type AuthInit = MessageInitShape<typeof AuthorizeRequestSchema>;
const authReq = (st: Station, qrPayload: string, amount: bigint, over: Record<string, unknown> = {}) => create(AuthorizeRequestSchema, {
  qrPayload, stationId: st.stationId, fuelType: FuelType.PETROL, requestedAmount: ngn(amount), pumpId: "3", terminalReference: "R-1", ...over,
} as AuthInit);

async function authorize(st: Station, req: ReturnType<typeof authReq>, k = randomUUID()): Promise<FuelTransaction> {
  const r = await st.pos.unary(TransactionService.method.authorize, req, { "idempotency-key": k });
  return r.message.transaction!;
}

async function settleAmount(st: Station, transactionId: string, amount: bigint, k = randomUUID()) {
  return (await st.pos.unary(TransactionService.method.settle, { transactionId, dispensed: { case: "amount", value: ngn(amount) } }, { "idempotency-key": k })).message.transaction!;
}

async function holdsOf(transactionId: string): Promise<number> {
  const r = await db.query(`SELECT count(*)::int AS n FROM credit.holds WHERE transaction_id = $1`, [transactionId]);
  return r.rows[0].n;
}

async function assertLedgerClean() {
  const r = await fx.creditAdmin().verifyLedger({});
  assert.equal(r.differences.length, 0, "no line differs from its postings");
  assert.equal(r.unbalancedEntryIds, []);
  assert.equal(r.inconsistentHoldIds, []);
  assert.ok(r.consistent);
}

test.before(async () => {
  sys = await startTestSystem();
  fx = await Fixtures.create(sys);
  db = new pg.Client({ connectionString: sys.databaseUrl });
  await db.connect();
  const kycAdmin = fx.kycAdmin();
  s1 = await newStation(kycAdmin);
  s2 = await newStation(kycAdmin);
  bankA = await fx.bank(50_000_000n);
  const loans = clientAs(LoanService, sys.cfg.urls.loan, bankA.token);
  await loans.createLoanProduct({ name: "Fuel 30", currency: "NGN", feeBps: 100, dailyInterestBps: 10, termDays: 30, isDefault: true });
  d1 = await driverWithLine(bankA);
});

test.after(async () => {
  s1?.pos.close();
  s2?.pos.close();
  await db?.end();
  await sys?.stop();
});

test("GenerateQrCode: a signed payload with a PNG or SVG rendering; bad input named", async () => {
  const png = await qrFor(d1.app, { imageFormat: QrImageFormat.PNG, imageSizePx: 256, maxAmount: ngn(100_000n) });
  assert.ok(png.payload.startsWith("FQ1.") && png.payload.length < 1024);
  assert.is(png.imageMimeType, "image/png");
  assert.equal([...png.image.slice(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  assert.is(png.driverId, d1.driverId);
  assert.is(png.maxAmount?.amountMinor, 100_000n);
  const svg = await qrFor(d1.app, { imageFormat: QrImageFormat.SVG });
  assert.is(svg.imageMimeType, "image/svg+xml");
  assert.match(new TextDecoder().decode(svg.image), /<svg/);
  const bare = await qrFor(d1.app);
  assert.is(bare.image.length, 0);
  assert.ok(Number(bare.expireTime!.seconds) - Number(bare.createTime!.seconds) <= 300);
  await refused(d1.app.generateQrCode({ ttlSeconds: 5 }, key()), Code.InvalidArgument, "INVALID_FIELD");
  await refused(d1.app.generateQrCode({ maxAmount: ngn(0n) }, key()), Code.InvalidArgument);
  await refused(d1.app.generateQrCode({ imageFormat: QrImageFormat.PNG, imageSizePx: 5000 }, key()), Code.InvalidArgument);
  // A driver without a line, and one without verified KYC, get no QR.
  const noLine = await fx.driver();
  await refused(connectJson(TransactionService, sys.gatewayUrl, noLine.token).generateQrCode({}, key()), Code.FailedPrecondition, "NO_CREDIT_LINE");
  const unverified = await fx.driver("", false);
  await refused(connectJson(TransactionService, sys.gatewayUrl, unverified.token).generateQrCode({}, key()), Code.FailedPrecondition, "KYC_NOT_VERIFIED");
  // Only drivers issue QRs.
  await refused(s1.admin.generateQrCode({}, key()), Code.PermissionDenied);
});

test("Authorize ×5 with one key: identical responses, one hold; the QR is then used", async () => {
  const qr = await qrFor(d1.app);
  const k = randomUUID();
  const req = authReq(s1, qr.payload, 40_000_00n);
  const answers: Uint8Array[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await s1.pos.unary(TransactionService.method.authorize, req, { "idempotency-key": k });
    answers.push(toBinary(AuthorizeResponseSchema, r.message));
  }
  for (const a of answers.slice(1)) assert.equal(Buffer.from(a).toString("hex"), Buffer.from(answers[0]!).toString("hex"));
  const t = fromBinary(AuthorizeResponseSchema, answers[0]!).transaction!;
  assert.is(t.status, TransactionStatus.AUTHORIZED);
  assert.is(t.approvedAmount?.amountMinor, 40_000_00n);
  assert.is(t.authorizedPriceMinorPerLitre, PRICE);
  assert.is(t.approvedVolumeMl, (40_000_00n * 1000n) / PRICE);
  assert.is(t.merchantId, s1.merchantId);
  assert.is(t.bankId, bankA.bankId);
  assert.ok(t.holdId && t.creditLineId);
  assert.is(await holdsOf(t.transactionId), 1);
  // One guard, in Postgres: Redis holds nothing for a sale's call, and the key row replays the same bytes.
  assert.is(await sys.infra.kv.get(`idem:transaction:fuel.transaction.v1.TransactionService/Authorize:${s1.posSubject}:${k}`), null);
  const afterFlush = await s1.pos.unary(TransactionService.method.authorize, req, { "idempotency-key": k });
  assert.is(afterFlush.headers.get("idempotent-replayed")[0], undefined, "served by the handler, not a Redis replay");
  assert.equal(Buffer.from(toBinary(AuthorizeResponseSchema, afterFlush.message)).toString("hex"), Buffer.from(answers[0]!).toString("hex"));
  assert.is(await holdsOf(t.transactionId), 1);
  // Five at once with one key (a terminal retrying while its first call still runs): one sale, one answer.
  const qr2 = await qrFor(d1.app);
  const k2 = randomUUID();
  const req2 = authReq(s1, qr2.payload, 10_000_00n);
  const racing = await Promise.all(Array.from({ length: 5 }, () => s1.pos.unary(TransactionService.method.authorize, req2, { "idempotency-key": k2 })));
  const ids = new Set(racing.map((r) => r.message.transaction!.transactionId));
  assert.is(ids.size, 1);
  for (const r of racing) assert.is(r.message.transaction!.status, TransactionStatus.AUTHORIZED);
  assert.is(await holdsOf([...ids][0]!), 1);
  // The same QR under another key is a replay.
  await refused(authorize(s1, req), Code.FailedPrecondition, "QR_ALREADY_USED");
  // Same key, other request → INVALID_ARGUMENT.
  await refused(s1.pos.unary(TransactionService.method.authorize, authReq(s1, qr.payload, 1n), { "idempotency-key": k }), Code.InvalidArgument, "IDEMPOTENCY_KEY_REUSED");
});

test("QR refused: expired, tampered, malformed, restricted to another station, at another merchant's station", async () => {
  // Expired: a 30 s QR presented 31 s later.
  const short = await qrFor(d1.app, { ttlSeconds: 30 });
  sys.clock.advance(31_000);
  await refused(authorize(s1, authReq(s1, short.payload, 1_000_00n)), Code.FailedPrecondition, "QR_EXPIRED");
  // Tampered: one character of the signed body changed.
  const qr = await qrFor(d1.app);
  const i = 10;
  const tampered = qr.payload.slice(0, i) + (qr.payload[i] === "A" ? "B" : "A") + qr.payload.slice(i + 1);
  await refused(authorize(s1, authReq(s1, tampered, 1_000_00n)), Code.InvalidArgument, "QR_SIGNATURE_INVALID");
  await refused(authorize(s1, authReq(s1, "not a qr", 1_000_00n)), Code.InvalidArgument, "QR_MALFORMED");
  // A QR restricted to station 1 presented at merchant B's station 2.
  const bound = await qrFor(d1.app, { stationId: s1.stationId });
  await refused(authorize(s2, authReq(s2, bound.payload, 1_000_00n)), Code.PermissionDenied, "QR_STATION_MISMATCH");
  // Merchant B's terminal naming merchant A's station.
  await refused(authorize(s2, authReq(s1, bound.payload, 1_000_00n)), Code.PermissionDenied, "TERMINAL_STATION_MISMATCH");
  // Fuel restrictions and stock.
  await refused(authorize(s1, authReq(s1, bound.payload, 1_000_00n, { fuelType: FuelType.DIESEL })), Code.FailedPrecondition, "QR_FUEL_TYPE_MISMATCH");
  const any = await qrFor(d1.app, { fuelType: FuelType.UNSPECIFIED });
  await refused(authorize(s1, authReq(s1, any.payload, 1_000_00n, { fuelType: FuelType.DIESEL })), Code.FailedPrecondition, "FUEL_NOT_AVAILABLE");
  // None of the refusals recorded a transaction or placed a hold; the QR is still good.
  const t = await authorize(s1, authReq(s1, bound.payload, 1_000_00n));
  assert.is(t.status, TransactionStatus.AUTHORIZED);
  const qrRows = await db.query(`SELECT count(*)::int AS n FROM transaction.transactions WHERE qr_code_id = ANY($1::uuid[])`, [[short.qrCodeId, qr.qrCodeId, any.qrCodeId]]);
  assert.is(qrRows.rows[0].n, 0);
  // Bad input names its field.
  await refused(authorize(s1, authReq(s1, any.payload, 0n)), Code.InvalidArgument);
  await refused(authorize(s1, authReq(s1, any.payload, 1n, { fuelType: FuelType.UNSPECIFIED })), Code.InvalidArgument);
});

test("settle by metered volume: half-even amount captured, rest released, loan created; ledger clean", async () => {
  const t = await authorize(s1, authReq(s1, (await qrFor(d1.app)).payload, 10_000_00n));
  const k = randomUUID();
  const settleReq = { transactionId: t.transactionId, dispensed: { case: "metered" as const, value: { volumeMl: 7_333n, priceMinorPerLitre: 65_050n } } };
  const r = await s1.pos.unary(TransactionService.method.settle, settleReq, { "idempotency-key": k });
  const s = r.message.transaction!;
  assert.is(s.status, TransactionStatus.SETTLED);
  assert.is(s.settledAmount?.amountMinor, 477_012n); // 65 050 × 7.333 = 477 011.65 → 477 012
  assert.is(s.releasedAmount?.amountMinor, 10_000_00n - 477_012n);
  assert.is(s.settledVolumeMl, 7_333n);
  assert.ok(s.loanId, "a loan was created");
  const again = await s1.pos.unary(TransactionService.method.settle, settleReq, { "idempotency-key": k });
  assert.is(again.message.transaction!.loanId, s.loanId);
  // The loan is the driver's, for the captured amount.
  const loan = await connectJson(LoanService, sys.gatewayUrl, d1.token).getLoan({ loanId: s.loanId });
  assert.is(loan.loan!.principal?.amountMinor, 477_012n);
  // The hold is captured for exactly that amount.
  const h = await db.query(`SELECT status, captured_amount FROM credit.holds WHERE transaction_id = $1`, [t.transactionId]);
  assert.equal([h.rows[0].status, BigInt(h.rows[0].captured_amount)], ["CAPTURED", 477_012n]);
  // A second settlement under another key is refused, as is a settle above the approval.
  await refused(settleAmount(s1, t.transactionId, 1n), Code.FailedPrecondition, "TRANSACTION_NOT_AUTHORIZED");
  const t2 = await authorize(s1, authReq(s1, (await qrFor(d1.app)).payload, 1_000n));
  await refused(settleAmount(s1, t2.transactionId, 1_001n), Code.FailedPrecondition, "AMOUNT_EXCEEDS_APPROVED");
  await refused(s1.pos.unary(TransactionService.method.settle, { transactionId: t2.transactionId }, { "idempotency-key": randomUUID() }), Code.InvalidArgument);
  // A zero settlement (nothing dispensed) releases everything and creates no loan.
  const z = await settleAmount(s1, t2.transactionId, 0n);
  assert.is(z.status, TransactionStatus.SETTLED);
  assert.is(z.loanId, "");
  assert.is(z.releasedAmount?.amountMinor, 1_000n);
  await assertLedgerClean();
});

test("a merchant cannot settle or void another merchant's transaction; its own admin can", async () => {
  const t = await authorize(s1, authReq(s1, (await qrFor(d1.app)).payload, 5_000_00n));
  await refused(s2.admin.settle({ transactionId: t.transactionId, dispensed: { case: "amount", value: ngn(100n) } }, key()), Code.NotFound, "TRANSACTION_NOT_FOUND");
  await refused(settleAmount(s2, t.transactionId, 100n), Code.NotFound, "TRANSACTION_NOT_FOUND");
  await refused(s2.admin.void({ transactionId: t.transactionId, reason: "not mine" }, key()), Code.NotFound);
  await refused(d1.app.settle({ transactionId: t.transactionId, dispensed: { case: "amount", value: ngn(100n) } }, key()), Code.PermissionDenied);
  const got = await s1.admin.settle({ transactionId: t.transactionId, dispensed: { case: "amount", value: ngn(2_500_00n) } }, key());
  assert.is(got.transaction!.status, TransactionStatus.SETTLED);
  assert.is(got.transaction!.settledAmount?.amountMinor, 2_500_00n);
});

test("void releases the hold; partial approval; declines are recorded", async () => {
  const t = await authorize(s1, authReq(s1, (await qrFor(d1.app)).payload, 3_000_00n));
  const v = await s1.pos.unary(TransactionService.method.void, { transactionId: t.transactionId, reason: "driver drove off" }, { "idempotency-key": randomUUID() });
  assert.is(v.message.transaction!.status, TransactionStatus.VOIDED);
  assert.is(v.message.transaction!.releasedAmount?.amountMinor, 3_000_00n);
  const hold = await db.query(`SELECT status FROM credit.holds WHERE transaction_id = $1`, [t.transactionId]);
  assert.is(hold.rows[0].status, "VOIDED");
  await refused(settleAmount(s1, t.transactionId, 1n), Code.FailedPrecondition, "TRANSACTION_NOT_AUTHORIZED");

  // A small line: partial approval when the terminal allows it, a decline when not.
  const small = await driverWithLine(bankA, 1_000_00n);
  const partial = await authorize(s1, authReq(s1, (await qrFor(small.app)).payload, 2_500_00n, { allowPartialApproval: true }));
  assert.is(partial.status, TransactionStatus.AUTHORIZED);
  assert.ok(partial.partiallyApproved);
  assert.is(partial.approvedAmount?.amountMinor, 1_000_00n);
  const declined = await authorize(s1, authReq(s1, (await qrFor(small.app)).payload, 2_500_00n));
  assert.is(declined.status, TransactionStatus.DECLINED);
  assert.is(declined.declineReason, DeclineReason.INSUFFICIENT_CREDIT);
  assert.is(declined.holdId, "");
  assert.is(await holdsOf(declined.transactionId), 0);
  // The QR's own cap: above it without partial approval is refused before any hold.
  const capped = await qrFor(d1.app, { maxAmount: ngn(500_00n) });
  await refused(authorize(s1, authReq(s1, capped.payload, 600_00n)), Code.FailedPrecondition, "AMOUNT_EXCEEDS_QR_MAX");
  const capHit = await authorize(s1, authReq(s1, capped.payload, 600_00n, { allowPartialApproval: true }));
  assert.is(capHit.approvedAmount?.amountMinor, 500_00n);
  await assertLedgerClean();
});

test("reads: each caller sees only its own slice", async () => {
  const d2 = await driverWithLine(bankA);
  const t2 = await authorize(s2, authReq(s2, (await qrFor(d2.app)).payload, 1_000_00n));
  const mine = await d1.app.listTransactions({});
  assert.ok(mine.transactions.length > 0);
  assert.ok(mine.transactions.every((t) => t.driverId === d1.driverId));
  await refused(d1.app.getTransaction({ transactionId: t2.transactionId }), Code.NotFound, "TRANSACTION_NOT_FOUND");
  assert.is((await d2.app.getTransaction({ transactionId: t2.transactionId })).transaction!.transactionId, t2.transactionId);
  // Merchant admins and terminals: their stations only.
  const a = await s1.admin.listTransactions({ pageSize: 200 });
  assert.ok(a.transactions.length > 0 && a.transactions.every((t) => t.merchantId === s1.merchantId));
  await refused(s1.admin.getTransaction({ transactionId: t2.transactionId }), Code.NotFound);
  const viaPos = await s2.pos.unary(TransactionService.method.listTransactions, {});
  assert.ok(viaPos.message.transactions.every((t) => t.stationId === s2.stationId));
  assert.ok(viaPos.message.transactions.some((t) => t.transactionId === t2.transactionId));
  // A filter naming someone else's id finds nothing rather than leaking.
  assert.is((await d1.app.listTransactions({ driverId: d2.driverId })).transactions.length, 0);
  // Banks: their lines' transactions.
  const bank = connectJson(TransactionService, sys.gatewayUrl, bankA.token);
  assert.is((await bank.getTransaction({ transactionId: t2.transactionId })).transaction!.bankId, bankA.bankId);
  const otherBank = connectJson(TransactionService, sys.gatewayUrl, await mintAccessToken(sys, principal(Role.BANK_ADMIN, { bankId: randomUUID() })));
  await refused(otherBank.getTransaction({ transactionId: t2.transactionId }), Code.NotFound);
  assert.is((await otherBank.listTransactions({})).transactions.length, 0);
  // Status filter and paging.
  const settled = await d1.app.listTransactions({ statuses: [TransactionStatus.SETTLED] });
  assert.ok(settled.transactions.length > 0 && settled.transactions.every((t) => t.status === TransactionStatus.SETTLED));
  const page1 = await d1.app.listTransactions({ pageSize: 2 });
  assert.is(page1.transactions.length, 2);
  const page2 = await d1.app.listTransactions({ pageSize: 2, pageToken: page1.nextPageToken });
  assert.not.ok(page2.transactions.some((t) => page1.transactions.some((u) => u.transactionId === t.transactionId)));
  await refused(d1.app.listTransactions({ pageToken: "garbage" }), Code.InvalidArgument);
  await refused(d1.app.listTransactions({ pageSize: -1 }), Code.InvalidArgument);
  await refused(d1.app.getTransaction({ transactionId: "nope" }), Code.InvalidArgument);
});

test("captured before its loan exists: CAPTURED everywhere, never SETTLED; the sweeper and a retry bring SETTLED with the loan", async () => {
  // A bank without a loan product: the capture succeeds, the loan cannot be made yet.
  const bankB = await fx.bank(1_000_000n);
  const d = await driverWithLine(bankB);
  const t = await authorize(s1, authReq(s1, (await qrFor(d.app)).payload, 2_000_00n));
  const settleKey = randomUUID();
  const s = await settleAmount(s1, t.transactionId, 1_500_00n, settleKey);
  assert.is(s.status, TransactionStatus.CAPTURED, "Settle does not claim a loan that does not exist");
  assert.is(s.loanId, "", "no loan product yet");
  assert.is(s.settledAmount?.amountMinor, 1_500_00n, "the capture is shown: the sale is final");
  const row = await db.query(`SELECT state FROM transaction.transactions WHERE transaction_id = $1`, [t.transactionId]);
  assert.is(row.rows[0].state, "CAPTURED");
  // Every reader agrees: GetTransaction, and the status filters of ListTransactions.
  assert.is((await d.app.getTransaction({ transactionId: t.transactionId })).transaction!.status, TransactionStatus.CAPTURED);
  const listed = async (status: TransactionStatus) =>
    (await d.app.listTransactions({ statuses: [status] })).transactions.some((x) => x.transactionId === t.transactionId);
  assert.ok(await listed(TransactionStatus.CAPTURED));
  assert.not.ok(await listed(TransactionStatus.SETTLED));
  // The CAPTURED answer is not kept for replay: the same key asks again and still gets CAPTURED now.
  const retried = await s1.pos.unary(TransactionService.method.settle, { transactionId: t.transactionId, dispensed: { case: "amount", value: ngn(1_500_00n) } }, { "idempotency-key": settleKey });
  assert.is(retried.message.transaction!.status, TransactionStatus.CAPTURED);
  assert.is(retried.headers.get("idempotent-replayed")[0], undefined);
  // A terminal must not void a captured sale.
  await refused(s1.pos.unary(TransactionService.method.void, { transactionId: t.transactionId, reason: "oops" }, { "idempotency-key": randomUUID() }), Code.FailedPrecondition, "TRANSACTION_NOT_AUTHORIZED");

  await clientAs(LoanService, sys.cfg.urls.loan, bankB.token).createLoanProduct({ name: "Fuel 7", currency: "NGN", termDays: 7, isDefault: true });
  const settings = settingsFromEnv(sys.cfg.maxDeadlineMs);
  sys.clock.advance(settings.recoveryGraceMs + 1_000);
  await sweepOnce(sys.services.transaction!.deps, settings);
  const after = (await d.app.getTransaction({ transactionId: t.transactionId })).transaction!;
  assert.is(after.status, TransactionStatus.SETTLED);
  assert.ok(after.loanId, "the sweeper created the loan");
  assert.ok(await listed(TransactionStatus.SETTLED));
  assert.not.ok(await listed(TransactionStatus.CAPTURED));
  const loans = await db.query(`SELECT loan_id::text FROM loan.loans WHERE transaction_id = $1`, [t.transactionId]);
  assert.equal(loans.rows.map((r) => r.loan_id), [after.loanId]);
  // The terminal's retry of its Settle now answers SETTLED with that loan (and keeps it).
  for (let i = 0; i < 2; i++) {
    const again = await settleAmount(s1, t.transactionId, 1_500_00n, settleKey);
    assert.is(again.status, TransactionStatus.SETTLED);
    assert.is(again.loanId, after.loanId);
  }
  // Running the sweeper again changes nothing.
  await sweepOnce(sys.services.transaction!.deps, settings);
  assert.is((await db.query(`SELECT count(*)::int AS n FROM loan.loans WHERE transaction_id = $1`, [t.transactionId])).rows[0].n, 1);
  const hold = await fx.creditAdmin().verifyLedger({});
  assert.ok(hold.consistent);
});

test.run();
