// Authorisation in litres at a locked price, through the gateway with a grpc-js terminal:
// the hold is the station's price at that moment times the volume (rounded up), the price
// is locked and used at settle after the station changed it, a partial approval answers
// the litres that fit, settling more litres than approved is refused and fewer release
// the rest; and the available-credit answer lists the litres of each fuel a driver can
// take at a station now.
import { randomUUID } from "node:crypto";
import * as assert from "uvu/assert";
import * as grpc from "@grpc/grpc-js";
import { FuelType, Role } from "../gen/fuel/common/v1/common_pb.js";
import { CreditService, type FuelAllowance } from "../gen/fuel/credit/v1/credit_pb.js";
import { DeclineReason } from "../gen/fuel/credit/v1/credit_line_pb.js";
import { LoanService } from "../gen/fuel/loan/v1/loan_pb.js";
import { TransactionService, TransactionStatus, type FuelTransaction } from "../gen/fuel/transaction/v1/transaction_pb.js";
import { amountToCover, saleAmount, volumeFor } from "../platform/money.js";
import { clientAs, creditSuite, Fixtures, ngn, tokenFor } from "./credit-fixtures.js";
import { connectJson } from "./helpers/clients.js";
import { PETROL_PRICE, qrPayload, saleWorld, type SaleWorld } from "./helpers/sale-world.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";

const test = creditSuite("litres at a locked price");
let sys: TestSystem;
let fx: Fixtures;
let w: SaleWorld;

const key = () => ({ "idempotency-key": randomUUID() });

async function authorizeLitres(world: SaleWorld, volumeMl: bigint, extra: { allowPartialApproval?: boolean; minVolumeMl?: bigint } = {}): Promise<FuelTransaction> {
  const qr = await qrPayload(world);
  const r = await world.pos.unary(TransactionService.method.authorize, {
    qrPayload: qr.payload, stationId: world.stationId, fuelType: FuelType.PETROL, requestedVolumeMl: volumeMl, ...extra,
  }, key());
  return r.message.transaction!;
}

const settleLitres = (world: SaleWorld, transactionId: string, volumeMl: bigint) =>
  world.pos.unary(TransactionService.method.settle, { transactionId, dispensed: { case: "volumeMl", value: volumeMl } }, key());

async function refused(p: Promise<unknown>, code: grpc.status, reason: string) {
  try {
    await p;
  } catch (err) {
    const e = err as grpc.ServiceError;
    assert.is(e.code, code, e.message);
    // The ErrorInfo reason travels in grpc-status-details-bin (a google.rpc.Status).
    const details = e.metadata?.get("grpc-status-details-bin")[0];
    assert.match(Buffer.from(details ?? "").toString("latin1"), reason);
    return;
  }
  assert.unreachable(`expected ${reason}`);
}

async function setPrice(world: SaleWorld, priceMinorPerLitre: bigint) {
  await world.stations!.updateFuelAvailability({ stationId: world.stationId, updates: [{ fuelType: FuelType.PETROL, inStock: true, priceMinorPerLitre, currency: "NGN" }] });
}

test.before(async () => {
  sys = await startTestSystem();
  fx = await Fixtures.create(sys);
  w = await saleWorld(sys, fx);
});
test.after(async () => await sys?.stop());

test("40 L authorised at the price of the moment, settled at that price after the station changed it", async () => {
  await setPrice(w, PETROL_PRICE);
  const t = await authorizeLitres(w, 40_000n);
  assert.is(t.status, TransactionStatus.AUTHORIZED);
  assert.is(t.requestedVolumeMl, 40_000n);
  assert.is(t.authorizedPriceMinorPerLitre, PETROL_PRICE);
  assert.is(t.approvedAmount!.amountMinor, amountToCover(PETROL_PRICE, 40_000n));
  assert.is(t.approvedVolumeMl, 40_000n);
  assert.not.ok(t.partiallyApproved);

  await setPrice(w, PETROL_PRICE + 5_000n);
  const settled = (await settleLitres(w, t.transactionId, 40_000n)).message.transaction!;
  assert.is(settled.settledAmount!.amountMinor, saleAmount(PETROL_PRICE, 40_000n), "the locked price, not the new one");
  assert.is(settled.settledPriceMinorPerLitre, PETROL_PRICE);
  assert.is(settled.settledVolumeMl, 40_000n);
  await setPrice(w, PETROL_PRICE);
});

test("more litres than approved are refused; fewer release the rest; a metered price must be the locked one", async () => {
  await setPrice(w, PETROL_PRICE);
  const t = await authorizeLitres(w, 10_000n);
  await refused(settleLitres(w, t.transactionId, 10_001n), grpc.status.FAILED_PRECONDITION, "VOLUME_EXCEEDS_APPROVED");
  await refused(w.pos.unary(TransactionService.method.settle, {
    transactionId: t.transactionId, dispensed: { case: "metered", value: { volumeMl: 5_000n, priceMinorPerLitre: PETROL_PRICE - 1n } },
  }, key()), grpc.status.FAILED_PRECONDITION, "PRICE_NOT_LOCKED_PRICE");
  const s = (await settleLitres(w, t.transactionId, 6_000n)).message.transaction!;
  assert.is(s.settledAmount!.amountMinor, saleAmount(PETROL_PRICE, 6_000n));
  assert.is(s.releasedAmount!.amountMinor, t.approvedAmount!.amountMinor - saleAmount(PETROL_PRICE, 6_000n));
});

test("millilitres at an awkward price: the hold covers the volume, the sale never costs more than the hold", async () => {
  const awkward = 65_001n;
  await setPrice(w, awkward);
  const t = await authorizeLitres(w, 33_333n);
  // 65 001 × 33.333 L = 2 166 678.333…: held rounded up, sold rounded half-even.
  assert.is(t.approvedAmount!.amountMinor, 2_166_679n);
  assert.is(t.approvedVolumeMl, 33_333n, "never more than asked, though the money buys a fraction more");
  const s = (await settleLitres(w, t.transactionId, 33_333n)).message.transaction!;
  assert.is(s.settledAmount!.amountMinor, 2_166_678n);
  assert.is(s.releasedAmount!.amountMinor, 1n);
  await setPrice(w, PETROL_PRICE);
});

test("partial approval in litres: the litres that fit, or a decline below the minimum", async () => {
  // A driver whose line holds 20 L at the station's price.
  const bank = await fx.bank(1_000_000_000n);
  await clientAs(LoanService, sys.cfg.urls.loan, bank.token).createLoanProduct({ name: "Fuel 30", currency: "NGN", termDays: 30, isDefault: true });
  const d = await fx.driver();
  await bank.credit.createCreditLine({ owner: { case: "driverId", value: d.driverId }, currency: "NGN", limitOverride: ngn(PETROL_PRICE * 20n), overrideReason: "20 L" });
  const tight: SaleWorld = { ...w, driverId: d.driverId, app: connectJson(TransactionService, sys.gatewayUrl, d.token) };
  await setPrice(w, PETROL_PRICE);

  const below = await authorizeLitres(tight, 40_000n, { allowPartialApproval: true, minVolumeMl: 25_000n });
  assert.is(below.status, TransactionStatus.DECLINED);
  assert.is(below.declineReason, DeclineReason.BELOW_MINIMUM_AMOUNT);
  const part = await authorizeLitres(tight, 40_000n, { allowPartialApproval: true, minVolumeMl: 10_000n });
  assert.is(part.status, TransactionStatus.AUTHORIZED);
  assert.ok(part.partiallyApproved);
  assert.is(part.approvedAmount!.amountMinor, PETROL_PRICE * 20n);
  assert.is(part.approvedVolumeMl, 20_000n, "the litres that fit");
  await settleLitres(tight, part.transactionId, 20_000n);
});

test("available credit at a station: litres of each fuel the line allows there, at its current price", async () => {
  await setPrice(w, PETROL_PRICE);
  const credit = connectJson(CreditService, sys.gatewayUrl, w.driverToken!);
  const r = await credit.getAvailableCredit({ stationId: w.stationId });
  assert.equal(r.fuels.map((f: FuelAllowance) => f.fuelType), [FuelType.PETROL]);
  const petrol = r.fuels[0]!;
  assert.is(petrol.priceMinorPerLitre, PETROL_PRICE);
  assert.is(petrol.volumeMl, volumeFor(r.spendable!.amountMinor, PETROL_PRICE));
  assert.ok(petrol.priceUpdateTime);
  assert.equal((await credit.getAvailableCredit({})).fuels, [], "no station, no fuels");

  // Out of stock: left out.
  await w.stations!.updateFuelAvailability({ stationId: w.stationId, updates: [{ fuelType: FuelType.PETROL, inStock: false, priceMinorPerLitre: PETROL_PRICE, currency: "NGN" }] });
  assert.equal((await credit.getAvailableCredit({ stationId: w.stationId })).fuels, []);
  await setPrice(w, PETROL_PRICE);

  // The line's controls decide which fuels count.
  const admin = fx.creditAdmin();
  const line = (await admin.getAvailableCredit({ driverId: w.driverId })).creditLineId;
  const cur = (await admin.getCreditLine({ creditLineId: line })).creditLine!;
  const bank = clientAs(CreditService, sys.cfg.urls.credit, await tokenFor(sys, Role.BANK_ADMIN, { bankId: cur.bankId }));
  await bank.updateSpendingControls({ creditLineId: line, expectedVersion: cur.version, controls: { allowedFuelTypes: [FuelType.DIESEL] } });
  assert.equal((await credit.getAvailableCredit({ stationId: w.stationId })).fuels, [], "petrol is not allowed on the line");
  const after = (await admin.getCreditLine({ creditLineId: line })).creditLine!;
  await bank.updateSpendingControls({ creditLineId: line, expectedVersion: after.version });
  assert.is((await credit.getAvailableCredit({ stationId: w.stationId })).fuels.length, 1);

  try {
    await credit.getAvailableCredit({ stationId: randomUUID() });
    assert.unreachable("an unknown station");
  } catch (err) {
    assert.match(String(err), "not found");
  }
});

test.run();
