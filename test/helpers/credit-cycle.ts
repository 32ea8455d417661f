// The whole credit cycle through the gateway, as the apps, the terminal and the payment
// gateway drive it, with its money checked at each step: a driver onboarded and KYC
// verified, a bank's line, a QR at the pump, authorize (hold) and settle (capture), the
// loan, a repayment through the payment gateway and its signed webhook, the loan paid
// off and the limit restored, and VerifyLedger clean. For suites that move the system's
// databases around (a database per service, PgBouncer) and must show the cycle survives.
import { randomUUID } from "node:crypto";
import * as assert from "uvu/assert";
import { Role } from "../../gen/fuel/common/v1/common_pb.js";
import { CreditService } from "../../gen/fuel/credit/v1/credit_pb.js";
import { LoanService, LoanStatus, type Loan } from "../../gen/fuel/loan/v1/loan_pb.js";
import { PaymentMethod, PaymentService, PaymentStatus } from "../../gen/fuel/payment/v1/payment_pb.js";
import { TransactionService, TransactionStatus } from "../../gen/fuel/transaction/v1/transaction_pb.js";
import { Fixtures } from "../credit-fixtures.js";
import { connectJson } from "./clients.js";
import { authorizeRequest, qrPayload, saleWorld, settleRequest, PETROL_PRICE } from "./sale-world.js";
import type { TestSystem } from "./system.js";
import { mintAccessToken, principal } from "./tokens.js";
import { until } from "./until.js";

/** What one cycle did, for a suite's own assertions. */
export interface CycleResult {
  driverId: string;
  creditLineId: string;
  transactionId: string;
  loanId: string;
  paymentId: string;
  settledMinor: bigint;
  /** Wall time of the cycle from the QR to the restored limit. */
  ms: number;
}

const key = () => ({ headers: { "idempotency-key": randomUUID() } });

/** Runs the cycle on `sys` (every service and the gateway) and asserts every step. */
export async function creditCycle(sys: TestSystem): Promise<CycleResult> {
  const fx = await Fixtures.create(sys);
  // Onboarding, KYC, a station with its terminal, a bank with a loan product, the line.
  const w = await saleWorld(sys, fx);
  const driverToken = await mintAccessToken(sys, principal(Role.DRIVER, { driverId: w.driverId }));
  const credit = connectJson(CreditService, sys.gatewayUrl, driverToken);
  const loans = connectJson(LoanService, sys.gatewayUrl, driverToken);
  const payments = connectJson(PaymentService, sys.gatewayUrl, driverToken);
  const available = async () => (await credit.getAvailableCredit({ driverId: w.driverId })).lineAvailable!.amountMinor;
  const before = await available();
  assert.ok(before > 0n, `the new line lends (${before})`);
  const started = performance.now();

  // At the pump: QR, authorize ₦5,000 (hold), 6.5 L dispensed, settle (capture).
  const { payload } = await qrPayload(w);
  const authorized = (await w.pos.unary(TransactionService.method.authorize, authorizeRequest(w, payload, 500_000n), { "idempotency-key": randomUUID() })).message.transaction!;
  assert.is(authorized.status, TransactionStatus.AUTHORIZED);
  assert.is(await available(), before - 500_000n, "the hold reserves the requested amount");
  const settled = (await w.pos.unary(TransactionService.method.settle, settleRequest(authorized.transactionId, 6_500n), { "idempotency-key": randomUUID() })).message.transaction!;
  const settledMinor = (PETROL_PRICE * 6_500n) / 1000n;
  assert.is(settled.settledAmount?.amountMinor, settledMinor);
  assert.is(await available(), before - settledMinor, "the rest of the hold is released");

  // The purchase is a loan of the driver's.
  const loan = await until<Loan>("the loan", async () => (await loans.listLoans({})).loans.find((l) => l.transactionId === authorized.transactionId));
  assert.is(loan.principal?.amountMinor, settledMinor);

  // Repay it all through the payment gateway; its signed webhook comes back to us.
  const payment = (await payments.initiatePayment({ allocations: [{ loanId: loan.loanId }], method: PaymentMethod.CARD, returnUrl: "https://app.example/paid" }, key())).payment!;
  assert.is(payment.amount?.amountMinor, loan.totalOutstanding?.amountMinor);
  const sim = await fetch(`${sys.paymentGateway!.url}/v1/payments/${payment.gatewayPaymentId}/simulate`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ outcome: "succeeded" }),
  });
  assert.is(sim.status, 200, await sim.clone().text());
  await until("the payment to succeed", async () => {
    const p = (await payments.getPayment({ paymentId: payment.paymentId })).payment!;
    return p.status === PaymentStatus.SUCCEEDED ? p : undefined;
  });
  await until("the loan to be paid off", async () => {
    const l = (await loans.getLoan({ loanId: loan.loanId })).loan!;
    return l.status === LoanStatus.PAID_OFF ? l : undefined;
  });
  await until("the limit to be restored", async () => ((await available()) === before ? true : undefined));
  const ms = performance.now() - started;

  const ledger = await connectJson(CreditService, sys.gatewayUrl, fx.adminToken).verifyLedger({});
  assert.ok(ledger.consistent, `VerifyLedger: ${JSON.stringify(ledger.differences, (_k, v) => (typeof v === "bigint" ? String(v) : v))}`);
  assert.ok(ledger.linesChecked >= 1n);
  const line = (await credit.getAvailableCredit({ driverId: w.driverId })).creditLineId;
  w.pos.close();
  return { driverId: w.driverId, creditLineId: line, transactionId: authorized.transactionId, loanId: loan.loanId, paymentId: payment.paymentId, settledMinor, ms };
}
