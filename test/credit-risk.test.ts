// Risk assessments are made on every fact or not at all. Two real systems: one whose
// LoanService address is served by a build without LoanService (KycService's server, so
// every ListLoans is UNIMPLEMENTED), and one with LoanService, read in pages of 2 with a
// bound of 6 loans (CREDIT_RISK_HISTORY_PAGE_SIZE, CREDIT_RISK_HISTORY_MAX_LOANS), whose
// LoanService is then stopped. Each refusal stores nothing and opens no line.
import { randomUUID } from "node:crypto";
import pg from "pg";
import * as assert from "uvu/assert";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { freePort } from "../bin/system.js";
import { Role } from "../gen/fuel/common/v1/common_pb.js";
import { LoanService, LoanStatus } from "../gen/fuel/loan/v1/loan_pb.js";
import { meshInterceptor } from "../platform/mesh.js";
import { ServiceTokens } from "../platform/tokens.js";
import { creditSuite, Fixtures, ngn, tokenFor } from "./credit-fixtures.js";
import { connectJson } from "./helpers/clients.js";
import { expectError, idem } from "./helpers/rpc.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";

// Read when each system's CreditService starts.
process.env.CREDIT_RISK_HISTORY_PAGE_SIZE = "2";
process.env.CREDIT_RISK_HISTORY_MAX_LOANS = "6";

const test = creditSuite("credit risk facts");
let noLoans: TestSystem;
let withLoans: TestSystem;

test.before(async () => {
  const kycPort = await freePort();
  noLoans = await startTestSystem({
    services: ["auth", "kyc", "credit", "notification"],
    mutate: (cfg) => {
      cfg.ports.kyc = kycPort;
      cfg.urls.kyc = `http://127.0.0.1:${kycPort}`;
      cfg.urls.loan = cfg.urls.kyc;
    },
  });
  withLoans = await startTestSystem({ services: ["auth", "kyc", "credit", "loan", "notification"] });
});
test.after(async () => {
  await noLoans?.stop();
  await withLoans?.stop();
});

async function stored(sys: TestSystem, subjectId: string): Promise<{ assessments: number; lines: number }> {
  const db = new pg.Client({ connectionString: sys.databaseUrl });
  await db.connect();
  try {
    const a = await db.query(`SELECT count(*)::int AS n FROM credit.assessments WHERE subject_id = $1`, [subjectId]);
    const l = await db.query(`SELECT count(*)::int AS n FROM credit.lines WHERE owner_id = $1`, [subjectId]);
    return { assessments: a.rows[0].n, lines: l.rows[0].n };
  } finally {
    await db.end();
  }
}

const asService = (sys: TestSystem, name: string): Client<typeof LoanService> =>
  createClient(LoanService, createGrpcTransport({ baseUrl: sys.cfg.urls.loan, interceptors: [meshInterceptor(new ServiceTokens(sys.cfg.meshSecret, name))] }));

/** `n` loans of 1 000 for the driver, a minute apart; the oldest `repaid` of them repaid in full. */
async function loans(sys: TestSystem, bankId: string, driverId: string, n: number, repaid: number): Promise<void> {
  const fromSettlement = asService(sys, "transaction");
  const fromPayment = asService(sys, "payment");
  const start = sys.clock.now().getTime() - n * 60_000;
  for (let i = 0; i < n; i++) {
    const { loan } = await fromSettlement.createLoanFromSettlement(
      {
        transactionId: randomUUID(),
        driverId,
        bankId,
        creditLineId: randomUUID(),
        principal: ngn(1_000n),
        settleTime: timestampFromDate(new Date(start + i * 60_000)),
      },
      idem(),
    );
    if (i < repaid) {
      const r = await fromPayment.applyRepayment({ loanId: loan!.loanId, amount: ngn(1_000n), paymentId: randomUUID(), receiveTime: timestampFromDate(sys.clock.now()) }, idem());
      assert.is(LoanStatus[r.loan!.status], "PAID_OFF");
    }
  }
}

test("a LoanService address that does not serve LoanService (UNIMPLEMENTED) is UNAVAILABLE RISK_FACTS_UNAVAILABLE, not 'no history'", async () => {
  const fx = await Fixtures.create(noLoans);
  const bank = await fx.bank(50_000n);
  const d = await fx.driver();
  const err = await expectError(bank.credit.assessRisk({ subject: { case: "driverId", value: d.driverId } }), Code.Unavailable, { reason: "RISK_FACTS_UNAVAILABLE" });
  assert.match(err.rawMessage, /Unimplemented/);
  await expectError(bank.credit.createCreditLine({ owner: { case: "driverId", value: d.driverId }, currency: "NGN" }), Code.Unavailable, { reason: "RISK_FACTS_UNAVAILABLE" });
  assert.equal(await stored(noLoans, d.driverId), { assessments: 0, lines: 0 });
});

test("a history is read to its end, page after page; one longer than the bound is refused, never cut", async () => {
  const fx = await Fixtures.create(withLoans);
  const bank = await fx.bank(50_000n);
  const bankLoans = connectJson(LoanService, withLoans.gatewayUrl, await tokenFor(withLoans, Role.BANK_ADMIN, { bankId: bank.bankId }));
  await bankLoans.createLoanProduct({ name: "Fuel 30", currency: "NGN", feeBps: 0, dailyInterestBps: 0, termDays: 30, isDefault: true }, idem());

  // Six loans, three pages of two; the repaid one is the oldest, so it is on the last page.
  const full = await fx.driver();
  await loans(withLoans, bank.bankId, full.driverId, 6, 1);
  const assessed = (await bank.credit.assessRisk({ subject: { case: "driverId", value: full.driverId } })).assessment!;
  assert.is(assessed.inputs!.loansCount, 6);
  assert.is(assessed.inputs!.loansRepaidCount, 1);

  const long = await fx.driver();
  await loans(withLoans, bank.bankId, long.driverId, 7, 0);
  const err = await expectError(bank.credit.assessRisk({ subject: { case: "driverId", value: long.driverId } }), Code.FailedPrecondition, { reason: "RISK_HISTORY_TOO_LONG" });
  assert.match(err.rawMessage, /more than 6 loans/);
  assert.equal(await stored(withLoans, long.driverId), { assessments: 0, lines: 0 });
});

test("LoanService stopped: UNAVAILABLE RISK_FACTS_UNAVAILABLE, nothing stored", async () => {
  const fx = await Fixtures.create(withLoans);
  const bank = await fx.bank(50_000n);
  const d = await fx.driver();
  const loan = withLoans.services.loan!;
  delete withLoans.services.loan;
  await loan.close();
  await expectError(bank.credit.assessRisk({ subject: { case: "driverId", value: d.driverId } }), Code.Unavailable, { reason: "RISK_FACTS_UNAVAILABLE" });
  assert.equal(await stored(withLoans, d.driverId), { assessments: 0, lines: 0 });
});

test.run();
