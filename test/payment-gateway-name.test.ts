// The payment gateway's name is one setting (PAYMENT_GATEWAY_NAME, validated in
// services/payment/settings.ts) read by both ends of a payment: PaymentService records it on each
// payment it opens, and the public webhook endpoint relays every delivery as coming from
// it. A system configured with a name other than the default settles a real payment
// through the simulated gateway's signed webhook: InitiatePayment through the gateway,
// the checkout completed at the gateway process, its webhook applied, the loan repaid.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { randomUUID } from "node:crypto";
import pg from "pg";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Role } from "../gen/fuel/common/v1/common_pb.js";
import { LoanService, LoanStatus } from "../gen/fuel/loan/v1/loan_pb.js";
import { AllocationStatus, PaymentMethod, PaymentService, PaymentStatus } from "../gen/fuel/payment/v1/payment_pb.js";
import { ConfigError } from "../platform/config.js";
import { meshInterceptor } from "../platform/mesh.js";
import { ServiceTokens } from "../platform/tokens.js";
import { paymentGatewayName, paymentSettingsFromEnv } from "../services/payment/settings.js";
import { connectJson } from "./helpers/clients.js";
import { idem } from "./helpers/rpc.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";

const GATEWAY_NAME = "paystack-live";

const test = suite("payment gateway name");
let sys: TestSystem;
let db: pg.Client;

test.before(async () => {
  sys = await startTestSystem({ services: ["auth", "loan", "payment"], env: { PAYMENT_GATEWAY_NAME: GATEWAY_NAME, PAYMENT_SYNC_INTERVAL_MS: "0" } });
  db = new pg.Client({ connectionString: sys.databaseUrl });
  await db.connect();
});

test.after(async () => {
  await db?.end();
  await sys?.stop();
});

test("PAYMENT_GATEWAY_NAME is validated with the rest of PaymentService's settings, and alone for the webhook endpoint", () => {
  assert.is(paymentSettingsFromEnv({}).gatewayName, "simulated");
  assert.is(paymentSettingsFromEnv({ PAYMENT_GATEWAY_NAME: "flutterwave" }).gatewayName, "flutterwave");
  assert.is(paymentGatewayName({ PAYMENT_GATEWAY_NAME: "flutterwave" }), "flutterwave");
  for (const read of [paymentSettingsFromEnv, paymentGatewayName]) {
    try {
      read({ PAYMENT_GATEWAY_NAME: "Pay Stack!" });
      assert.unreachable("a bad name must stop the start");
    } catch (err) {
      assert.instance(err, ConfigError);
      assert.ok((err as ConfigError).problems.some((p) => p.startsWith("PAYMENT_GATEWAY_NAME")), String(err));
    }
  }
});

test("a payment opened at a gateway named otherwise settles through its signed webhook", async () => {
  const bankId = randomUUID();
  const driver = principal(Role.DRIVER, { driverId: randomUUID() });
  const bankLoans = connectJson(LoanService, sys.gatewayUrl, await mintAccessToken(sys, principal(Role.BANK_ADMIN, { bankId })));
  await bankLoans.createLoanProduct({ name: "Fuel 30", currency: "NGN", feeBps: 0, dailyInterestBps: 0, termDays: 30, isDefault: true }, idem());
  const asTransactionService = createClient(
    LoanService,
    createGrpcTransport({ baseUrl: sys.cfg.urls.loan, interceptors: [meshInterceptor(new ServiceTokens(sys.cfg.meshSecret, "transaction"))] }),
  );
  const loan = (
    await asTransactionService.createLoanFromSettlement(
      {
        transactionId: randomUUID(),
        driverId: driver.driverId,
        bankId,
        creditLineId: randomUUID(),
        principal: { amountMinor: 15_000n, currency: "NGN" },
        settleTime: timestampFromDate(sys.clock.now()),
      },
      idem(),
    )
  ).loan!;

  const token = await mintAccessToken(sys, driver);
  const payments = connectJson(PaymentService, sys.gatewayUrl, token);
  const { payment } = await payments.initiatePayment(
    { allocations: [{ loanId: loan.loanId }], method: PaymentMethod.CARD, returnUrl: "https://app.example/paid" },
    idem(),
  );
  assert.ok(payment);
  assert.is(payment.gateway, GATEWAY_NAME, "PaymentService records the configured name");

  // The driver completes the checkout; the gateway process posts its signed webhook to
  // our public endpoint, which relays it as from the configured gateway.
  const sim = await fetch(`${sys.paymentGateway!.url}/v1/payments/${payment.gatewayPaymentId}/simulate`, { method: "POST", body: JSON.stringify({ outcome: "succeeded" }) });
  assert.is(sim.status, 200, await sim.clone().text());
  const { event_id: eventId } = (await sim.json()) as { event_id: string };

  let paid = (await payments.getPayment({ paymentId: payment.paymentId })).payment!;
  for (let i = 0; i < 150 && paid.allocations.some((a) => a.status === AllocationStatus.PENDING); i++) {
    await new Promise((r) => setTimeout(r, 100));
    paid = (await payments.getPayment({ paymentId: payment.paymentId })).payment!;
  }
  assert.is(PaymentStatus[paid.status], "SUCCEEDED");
  assert.equal(paid.allocations.map((a) => AllocationStatus[a.status]), ["APPLIED"]);
  const event = await db.query(`SELECT gateway, outcome FROM payment.gateway_events WHERE event_id = $1`, [eventId]);
  assert.equal(event.rows, [{ gateway: GATEWAY_NAME, outcome: "APPLIED" }]);
  const after = (await connectJson(LoanService, sys.gatewayUrl, token).getLoan({ loanId: loan.loanId })).loan!;
  assert.is(LoanStatus[after.status], "PAID_OFF");
});

test.run();
