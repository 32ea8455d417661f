// Demo chapter for what the network adds to a fuel card, called from bin/demo.ts after the
// credit cycle: the bank lends under a program with a cap; the driver fills 40 L at a price
// locked at authorisation, across a price change; the app finds where to fill up now; a
// purchase beyond the program's cap is declined with advice, and the app is told why.
import { randomUUID } from "node:crypto";
import type { DescService } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { FuelType } from "../gen/fuel/common/v1/common_pb.js";
import { DeclineAdvice, DeclineReason } from "../gen/fuel/credit/v1/credit_line_pb.js";
import { CreditService, LimitingFactor } from "../gen/fuel/credit/v1/credit_pb.js";
import { NotificationService } from "../gen/fuel/notification/v1/notification_pb.js";
import { StationService } from "../gen/fuel/station/v1/station_pb.js";
import { TransactionService, TransactionStatus } from "../gen/fuel/transaction/v1/transaction_pb.js";
import { moneyText } from "../platform/money-text.js";
import { DRIVER_AT } from "./demo-stations.js";

const naira = (minor: bigint) => moneyText(minor, "NGN", "symbol");
const litres = (ml: bigint) => `${(Number(ml) / 1000).toFixed(3)} L`;

function app<S extends DescService>(service: S, baseUrl: string, token?: string): Client<S> {
  return createClient(service, createConnectTransport({
    baseUrl,
    httpVersion: "1.1",
    interceptors: [(next) => async (req) => {
      if (token) req.header.set("authorization", `Bearer ${token}`);
      req.header.set("idempotency-key", randomUUID());
      return await next(req);
    }],
  }));
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface NetworkContext {
  gatewayUrl: string;
  coreToken: string;
  driverToken: string;
  driverId: string;
  creditLineId: string;
  stationId: string;
  terminalToken: string;
  step: (n: number, text: string) => void;
  show: (label: string, value: unknown) => void;
  firstStep: number;
}

export async function networkDemo(ctx: NetworkContext): Promise<number> {
  const { gatewayUrl: url, step, show } = ctx;
  let n = ctx.firstStep;
  const core = app(CreditService, url, ctx.coreToken);
  const pos = app(TransactionService, url, ctx.terminalToken);
  const qr = async () => (await app(TransactionService, url, ctx.driverToken).generateQrCode({ fuelType: FuelType.PETROL })).qrCode!.payload;

  step(n++, "The bank lends under a program: one cap on all its lines together");
  const program = (await core.createCreditProgram({ name: "Lagos drivers 2027 (demo)", cap: { amountMinor: 3_000_000n, currency: "NGN" } })).creditProgram!;
  show("program", { name: program.name, cap: naira(program.cap!.amountMinor) });
  // A line joins a program when it is opened: the driver's repaid line is closed and
  // opened again under the program.
  const old = (await core.getCreditLine({ creditLineId: ctx.creditLineId })).creditLine!;
  await core.closeCreditLine({ creditLineId: old.creditLineId, expectedVersion: old.version, reason: "moved to the 2027 program" });
  const line = (await core.createCreditLine({ owner: { case: "driverId", value: ctx.driverId }, currency: "NGN", creditProgramId: program.creditProgramId })).creditLine!;
  show("driver's line", { limit: naira(line.limit!.amountMinor), program: line.creditProgramId === program.creditProgramId ? program.name : "?" });

  step(n++, "At the station the app shows how many litres the driver can take of each fuel");
  const here = await app(CreditService, url, ctx.driverToken).getAvailableCredit({ stationId: ctx.stationId });
  for (const f of here.fuels) show(FuelType[f.fuelType], `${litres(f.volumeMl)} at ${naira(f.priceMinorPerLitre)}/L`);
  show("spendable", `${naira(here.spendable!.amountMinor)} (limited by ${LimitingFactor[here.limitingFactor]})`);

  step(n++, "\"Fill 40 L of petrol\": authorised in litres, the price locked");
  const fill = (await pos.authorize({ qrPayload: await qr(), stationId: ctx.stationId, fuelType: FuelType.PETROL, requestedVolumeMl: 40_000n })).transaction!;
  show("authorized", { litres: litres(fill.approvedVolumeMl), held: naira(fill.approvedAmount!.amountMinor), locked: `${naira(fill.authorizedPriceMinorPerLitre)}/L` });
  await app(StationService, url, ctx.terminalToken).updateFuelAvailability({
    stationId: ctx.stationId, updates: [{ fuelType: FuelType.PETROL, inStock: true, priceMinorPerLitre: fill.authorizedPriceMinorPerLitre + 5_000n, currency: "NGN" }],
  });
  show("meanwhile", `the station raises petrol to ${naira(fill.authorizedPriceMinorPerLitre + 5_000n)}/L`);
  const paid = (await pos.settle({ transactionId: fill.transactionId, dispensed: { case: "volumeMl", value: 40_000n } })).transaction!;
  show("settled", { litres: litres(paid.settledVolumeMl), at: `${naira(paid.settledPriceMinorPerLitre)}/L (the locked price)`, amount: naira(paid.settledAmount!.amountMinor) });

  step(n++, "\"Where can I fill up now?\" — open stations near the driver, priced fresh, with the litres left to take");
  const where = await app(StationService, url, ctx.driverToken).findFillUpStations({ location: DRIVER_AT, radiusM: 10_000, pageSize: 3 });
  show("can spend", naira(where.spendable!.amountMinor));
  for (const r of where.results) {
    show(`${r.distanceM} m`, `${r.station!.name} — ${r.fuels.map((f) => `${FuelType[f.fuelType]} ${naira(f.priceMinorPerLitre)}/L: ${litres(f.volumeMl)}`).join(", ")}`);
  }

  step(n++, "The next purchase would pass the program's cap: declined, with advice, and the app is told");
  const big = (await pos.authorize({ qrPayload: await qr(), stationId: ctx.stationId, fuelType: FuelType.PETROL, requestedAmount: { amountMinor: 1_000_000n, currency: "NGN" } })).transaction!;
  show("terminal sees", { status: TransactionStatus[big.status], reason: DeclineReason[big.declineReason], advice: DeclineAdvice[big.declineAdvice] });
  const note = await until("the decline notice", async () =>
    (await app(NotificationService, url, ctx.driverToken).listNotifications({})).notifications.find((x) => x.kind === "PURCHASE_DECLINED"));
  show("driver's app", `${note.title}: ${note.body}`);
  return n;
}
