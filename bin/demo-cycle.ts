// The credit cycle, as the demo walks it through the gateway: a bank and its core system
// sign in, open a line for the verified driver, the driver pays for fuel with a QR code at
// the pump (authorize = hold, settle = capture), the purchase becomes a loan, the driver
// repays through the payment gateway, the webhook comes back and the limit is restored.
import { randomUUID } from "node:crypto";
import type { DescService } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AuthService, MachineKind } from "../gen/fuel/auth/v1/auth_pb.js";
import { FuelType, Role } from "../gen/fuel/common/v1/common_pb.js";
import { RiskCategory } from "../gen/fuel/credit/v1/credit_line_pb.js";
import { RiskReasonCode } from "../gen/fuel/credit/v1/risk_pb.js";
import { CreditService } from "../gen/fuel/credit/v1/credit_pb.js";
import { KycService } from "../gen/fuel/kyc/v1/kyc_pb.js";
import { LoanService, LoanStatus } from "../gen/fuel/loan/v1/loan_pb.js";
import { NotificationService } from "../gen/fuel/notification/v1/notification_pb.js";
import { PaymentMethod, PaymentService, PaymentStatus } from "../gen/fuel/payment/v1/payment_pb.js";
import { QrImageFormat, TransactionService } from "../gen/fuel/transaction/v1/transaction_pb.js";
import { moneyText } from "../platform/money-text.js";

const BANK_ADMIN_PHONE = "+2348000000002";
const naira = (minor: bigint) => moneyText(minor, "NGN", "symbol");
const ngn = (amountMinor: bigint) => ({ amountMinor, currency: "NGN" });

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

export interface CycleContext {
  gatewayUrl: string;
  paymentGatewayUrl: string;
  systemAdminToken: string;
  driverToken: string;
  driverId: string;
  stationId: string;
  terminalToken: string;
  readCode: (phone: string, after: number) => Promise<string>;
  step: (n: number, text: string) => void;
  show: (label: string, value: unknown) => void;
  firstStep: number;
}

export interface CycleResult {
  /** The bank's core system's token (BANK_SYSTEM). */
  coreToken: string;
  /** The driver's line, repaid and back at its limit. */
  creditLineId: string;
  nextStep: number;
}

export async function creditCycleDemo(ctx: CycleContext): Promise<CycleResult> {
  const { gatewayUrl: url, step, show } = ctx;
  let n = ctx.firstStep;

  step(n++, "Operator registers a bank; its credit officer signs in with OTP");
  const bank = (await app(KycService, url, ctx.systemAdminToken).createBank({ name: "Lagos Mutual Bank", code: `LMB${Date.now() % 100000}`, currency: "NGN" })).bank!;
  await app(AuthService, url, ctx.systemAdminToken).createUser({ phone: BANK_ADMIN_PHONE, displayName: "Credit Officer", role: Role.BANK_ADMIN, organizationId: bank.bankId });
  const t0 = Date.now();
  await app(AuthService, url).requestOtp({ phone: BANK_ADMIN_PHONE });
  const officer = (await app(AuthService, url).verifyOtp({ phone: BANK_ADMIN_PHONE, code: await ctx.readCode(BANK_ADMIN_PHONE, t0) })).session!.accessToken;
  show("bank", { id: bank.bankId, name: bank.name });

  step(n++, "The bank's core system gets a machine credential and signs in with it");
  const cred = await app(AuthService, url, officer).createMachineCredential({ kind: MachineKind.BANK_SYSTEM, bankId: bank.bankId, label: "core banking" });
  const core = (await app(AuthService, url).exchangeClientCredentials({ clientId: cred.credential!.clientId, clientSecret: cred.clientSecret })).accessToken;
  show("signed in as", "BANK_SYSTEM bound to the bank");

  step(n++, "Core system sets the bank's credit policy and loan product, then opens the driver's line");
  const credit = app(CreditService, url, core);
  await credit.setCreditPolicy({
    currency: "NGN",
    expectedVersion: 0n,
    categoryLimits: [[RiskCategory.LOW, 20_000_000n], [RiskCategory.MEDIUM, 10_000_000n], [RiskCategory.HIGH, 5_000_000n]].map(([category, max]) => ({ category: category as RiskCategory, maxLimit: ngn(max as bigint) })),
  });
  await app(LoanService, url, core).createLoanProduct({ name: "Fuel 30", currency: "NGN", feeBps: 100, dailyInterestBps: 5, termDays: 30, isDefault: true });
  const opened = await credit.createCreditLine({ owner: { case: "driverId", value: ctx.driverId }, currency: "NGN" });
  const line = opened.creditLine!;
  show("credit line", { limit: naira(line.limit!.amountMinor), risk: RiskCategory[opened.assessment?.category ?? 0], reasons: opened.assessment?.reasons.slice(0, 3).map((r) => `${RiskReasonCode[r.code]} ${r.points >= 0 ? "+" : ""}${r.points}`) });

  const driverCredit = app(CreditService, url, ctx.driverToken);
  const before = await driverCredit.getAvailableCredit({ driverId: ctx.driverId });
  show("driver can spend", naira(before.spendable!.amountMinor));

  step(n++, "At the pump: the driver's app shows a QR code");
  const qr = (await app(TransactionService, url, ctx.driverToken).generateQrCode({ fuelType: FuelType.PETROL, imageFormat: QrImageFormat.SVG })).qrCode!;
  show("QR payload", `${qr.payload.slice(0, 24)}… (${qr.payload.length} chars, ${qr.imageMimeType}, expires ${qr.expireTime ? new Date(Number(qr.expireTime.seconds) * 1000).toISOString() : "?"})`);

  step(n++, "The POS terminal scans it and authorizes ₦20,000 (a hold on the line)");
  const pos = app(TransactionService, url, ctx.terminalToken);
  const auth = (await pos.authorize({ qrPayload: qr.payload, stationId: ctx.stationId, fuelType: FuelType.PETROL, requestedAmount: ngn(2_000_000n) })).transaction!;
  show("authorized", { transaction: auth.transactionId, approved: naira(auth.approvedAmount?.amountMinor ?? 0n) });

  step(n++, "The pump stops at 18.5 L; the terminal settles (capture) and the purchase becomes a loan");
  const settled = (await pos.settle({ transactionId: auth.transactionId, dispensed: { case: "metered", value: { volumeMl: 18_500n, priceMinorPerLitre: 63_500n } } })).transaction!;
  show("settled", { amount: naira(settled.settledAmount?.amountMinor ?? 0n), loan: settled.loanId || "(being created)" });
  const loans = app(LoanService, url, ctx.driverToken);
  const loan = await until("the loan", async () => (await loans.listLoans({})).loans[0]);
  show("loan", { principal: naira(loan.principal!.amountMinor), fee: naira(loan.fee!.amountMinor), due: loan.dueTime ? new Date(Number(loan.dueTime.seconds) * 1000).toISOString().slice(0, 10) : "?" });
  const inbox = app(NotificationService, url, ctx.driverToken);
  const notice = (kind: string) => until(`the ${kind} notice`, async () => (await inbox.listNotifications({})).notifications.find((x) => x.kind === kind));
  const terms = await notice("LOAN_OPENED");
  show("driver's app", `${terms.title}: ${terms.body}`);
  const during = await driverCredit.getAvailableCredit({ driverId: ctx.driverId });
  show("driver can spend now", naira(during.spendable!.amountMinor));

  step(n++, "The driver repays the loan through the payment gateway");
  const pay = (await app(PaymentService, url, ctx.driverToken).initiatePayment({ allocations: [{ loanId: loan.loanId }], method: PaymentMethod.CARD })).payment!;
  show("checkout", pay.checkoutUrl);
  // The driver completes the checkout; the (simulated) gateway then posts its signed webhook.
  const sim = await fetch(`${ctx.paymentGatewayUrl}/v1/payments/${pay.gatewayPaymentId}/simulate`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ outcome: "succeeded" }) });
  if (!sim.ok) throw new Error(`payment simulator answered ${sim.status}`);
  const done = await until("the webhook", async () => {
    const p = (await app(PaymentService, url, ctx.driverToken).getPayment({ paymentId: pay.paymentId })).payment!;
    return p.status === PaymentStatus.SUCCEEDED ? p : undefined;
  });
  show("payment", { status: PaymentStatus[done.status], amount: naira(done.amount!.amountMinor) });

  step(n++, "Webhook reconciled: the loan is repaid and the limit restored");
  const paid = await until("the loan to be paid off", async () => {
    const l = (await loans.getLoan({ loanId: loan.loanId })).loan!;
    return l.status === LoanStatus.PAID_OFF ? l : undefined;
  });
  show("loan", LoanStatus[paid.status]);
  const repaid = await notice("LOAN_PAID_OFF");
  show("driver's app", `${repaid.title}: ${repaid.body}`);
  const after = await until("the limit to be restored", async () => {
    const a = await driverCredit.getAvailableCredit({ driverId: ctx.driverId });
    return a.spendable!.amountMinor === before.spendable!.amountMinor ? a : undefined;
  });
  show("driver can spend again", naira(after.spendable!.amountMinor));
  return { coreToken: core, creditLineId: line.creditLineId, nextStep: n };
}
