// The TypeScript client package for bank integrators (clients/typescript, @fuel/bank-client).
// A bank's whole day runs through it alone, over gRPC through the gateway of the real
// system: its credit policy and loan product, risk and lines, a limit, controls, a freeze,
// the loan a sale produced, repayments (one replayed under the bank's own key), the
// statement, the ledger, closing lines. What the bank cannot do itself (the bank, its
// machine credential, KYC-verified drivers, a station's sale) comes from the fixtures.
// Then the client's own promises: the token renewed before expiry by one exchange, a
// refused token replaced once, errors typed with reason and field, a money call retried
// under UNAVAILABLE with its key (against a small local server that fails on purpose),
// bounded retries inside the deadline; and the package itself: its generated code (and
// the reasons it knows) as proto/ says, the built JS importable by name, the README's
// example compiling against it.
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import * as assert from "uvu/assert";
import { create, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { AuthService as RootAuthService, MachineKind } from "../gen/fuel/auth/v1/auth_pb.js";
import { FuelType as RootFuelType, Role as RootRole } from "../gen/fuel/common/v1/common_pb.js";
import { StationService as RootStationService } from "../gen/fuel/station/v1/station_pb.js";
import { TransactionService as RootTransactionService, TransactionStatus } from "../gen/fuel/transaction/v1/transaction_pb.js";
import {
  AuthService,
  createBankClient,
  CreditLineStatus,
  FuelApiError,
  FuelType,
  isKnownReason,
  JournalEntryKind,
  KNOWN_REASONS,
  LimitDecreasePolicy,
  LoanService,
  LoanStatus,
  RepaymentSource,
  REPLAYED_HEADER,
  RiskCategory,
  Role,
  StatementEventKind,
  withIdempotencyKey,
  type BankClient,
  type BankClientOptions,
} from "../clients/typescript/src/index.js";
import { ErrorInfoSchema, RetryInfoSchema } from "../clients/typescript/src/gen/google/rpc/error_details_pb.js";
import { TransactionStatus as PackageTransactionStatus } from "../clients/typescript/src/gen/fuel/transaction/v1/transaction_pb.js";
import { creditSuite, Fixtures } from "./credit-fixtures.js";
import { connectJson, GrpcJsClient } from "./helpers/clients.js";
import { createBank, createMerchant, createStation } from "./helpers/orgs.js";
import { idem } from "./helpers/rpc.js";
import { authorizeRequest, qrPayload, settleRequest, PETROL_PRICE, type SaleWorld } from "./helpers/sale-world.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";
import { until } from "./helpers/until.js";

const test = creditSuite("bank-client");
const run = promisify(execFile);
const PACKAGE_DIR = new URL("../clients/typescript/", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;
const BUF = new URL("../node_modules/.bin/buf", import.meta.url).pathname;
/** Machine tokens live 60 s here, the shortest AuthService allows: renewal is due 6 s early. */
const TOKEN_TTL_S = 60;
const CCY = "NGN";
const ngn = (amountMinor: bigint) => ({ amountMinor, currency: CCY });

let sys: TestSystem;
let fx: Fixtures;
let adminToken: string;
let build: Promise<unknown>;
const clients: BankClient[] = [];

// ---------------------------------------------------------------------------------------
// What a call looked like on the wire, attempt by attempt, seen by an interceptor the
// integrator may add (the client runs it innermost).

interface Attempt {
  method: string;
  key: string | null;
  authorization: string | null;
  timeoutHeader: string | null;
  code?: Code;
  reason?: string;
  response?: unknown;
}

function recorder(log: Attempt[], onResponse?: (a: Attempt) => void): Interceptor {
  return (next) => async (req) => {
    const a: Attempt = {
      method: req.method.name,
      key: req.header.get("idempotency-key"),
      authorization: req.header.get("authorization"),
      timeoutHeader: req.header.get("grpc-timeout"),
    };
    log.push(a);
    try {
      const res = await next(req);
      a.response = res.message;
      onResponse?.(a);
      return res;
    } catch (err) {
      const ce = ConnectError.from(err);
      a.code = ce.code;
      a.reason = ce.findDetails(ErrorInfoSchema)[0]?.reason;
      throw err;
    }
  };
}

/** A bank system's credential, issued by an operator for a bank that exists. */
async function bankCredential(): Promise<{ bankId: string; clientId: string; clientSecret: string }> {
  const bankId = await createBank(sys.gatewayUrl, adminToken);
  const auth = connectJson(RootAuthService, sys.gatewayUrl, adminToken);
  const res = await auth.createMachineCredential({ kind: MachineKind.BANK_SYSTEM, bankId, label: "Core banking" }, idem());
  return { bankId, clientId: res.credential!.clientId, clientSecret: res.clientSecret };
}

function bankClient(cred: { clientId: string; clientSecret: string }, over: Partial<BankClientOptions> = {}): BankClient {
  const c = createBankClient({ baseUrl: sys.gatewayUrl, clientId: cred.clientId, clientSecret: cred.clientSecret, ...over });
  clients.push(c);
  return c;
}

/** The failure of `p`, which must fail. */
async function failure(p: Promise<unknown>): Promise<FuelApiError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof FuelApiError, `a FuelApiError, got ${String(err)}`);
    return err;
  }
  throw new assert.Assertion({ message: "expected the call to fail", operator: "failure", expects: "an error", actual: "OK" } as never);
}

/** A station selling petrol, its terminal, and a driver's app: what a sale on the bank's line needs. */
async function saleWorld(driverId: string, driverToken: string): Promise<SaleWorld> {
  const merchantId = await createMerchant(sys.gatewayUrl, adminToken);
  const merchantToken = await mintAccessToken(sys, principal(RootRole.MERCHANT_ADMIN, { merchantId }));
  const stationId = await createStation(sys.gatewayUrl, merchantToken, merchantId, { pumps: [{ label: "1", fuelTypes: [RootFuelType.PETROL] }] });
  await connectJson(RootStationService, sys.gatewayUrl, merchantToken).updateFuelAvailability(
    { stationId, updates: [{ fuelType: RootFuelType.PETROL, inStock: true, priceMinorPerLitre: PETROL_PRICE, currency: CCY }] },
    idem(),
  );
  const pos = new GrpcJsClient(RootTransactionService, sys.gatewayUrl, await mintAccessToken(sys, principal(RootRole.POS_TERMINAL, { stationId, merchantId })));
  return { stationId, pos, driverId, app: connectJson(RootTransactionService, sys.gatewayUrl, driverToken) };
}

test.before(async () => {
  // The built package is checked at the end; build it (its own script) while the system starts.
  build = run("npm", ["run", "build", "-w", "@fuel/bank-client"], { cwd: ROOT }).catch((err: unknown) => err);
  sys = await startTestSystem({
    env: { ACCESS_TOKEN_TTL_SECONDS: String(TOKEN_TTL_S), LOAN_AGING_INTERVAL_MS: "0", LOAN_RELAY_BACKOFF_MS: "100" },
  });
  fx = await Fixtures.create(sys);
  adminToken = fx.adminToken;
});

test.after(async () => {
  for (const c of clients) c.close();
  await sys?.stop();
});

test("a bank's day through the package: policy, product, lines, a sale's loan, repayments, statement", async () => {
  const cred = await bankCredential();
  const wire: Attempt[] = [];
  const bank = bankClient(cred, { interceptors: [recorder(wire)] });

  // Who am I.
  const me = await bank.principal();
  assert.is(me.role, Role.BANK_SYSTEM);
  assert.is(me.bankId, cred.bankId);
  assert.is((await bank.auth.getMe({})).principal?.subjectId, cred.clientId);

  // The credit policy: none yet, then set, then raised under its version.
  const none = await failure(bank.credit.getCreditPolicy({ currency: CCY }));
  assert.is(none.code, Code.NotFound);
  assert.is(none.reason, "CREDIT_POLICY_NOT_FOUND");
  const limits = (low: bigint) => [
    { category: RiskCategory.LOW, maxLimit: ngn(low) },
    { category: RiskCategory.MEDIUM, maxLimit: ngn(4_000_000n) },
    { category: RiskCategory.HIGH, maxLimit: ngn(3_000_000n) },
  ];
  const first = (await bank.credit.setCreditPolicy({ currency: CCY, expectedVersion: 0n, categoryLimits: limits(5_000_000n) })).policy!;
  const raised = (await bank.credit.setCreditPolicy({ currency: CCY, expectedVersion: first.version, categoryLimits: limits(6_000_000n) })).policy!;
  assert.ok(raised.version > first.version);
  const stale = await failure(bank.credit.setCreditPolicy({ currency: CCY, expectedVersion: first.version, categoryLimits: limits(7_000_000n) }));
  assert.is(stale.code, Code.Aborted);
  assert.is(stale.reason, "VERSION_MISMATCH");
  assert.is(wire.filter((a) => a.reason === "VERSION_MISMATCH").length, 1, "a stale version is the caller's to resolve: not retried");
  const policy = (await bank.credit.getCreditPolicy({ currency: CCY })).policy!;
  assert.is(policy.version, raised.version);
  assert.is(policy.categoryLimits.find((c) => c.category === RiskCategory.LOW)?.maxLimit?.amountMinor, 6_000_000n);

  // The loan product every loan of its credit takes, then a change of its fee.
  const product = (await bank.loans.createLoanProduct({
    name: "Fuel 30", currency: CCY, feeFixed: ngn(100n), feeBps: 200, dailyInterestBps: 10, termDays: 30, isDefault: true,
  })).loanProduct!;
  const product2 = (await bank.loans.updateLoanProduct({
    loanProductId: product.loanProductId, expectedVersion: product.version, loanProduct: { feeBps: 100 }, updateMask: { paths: ["fee_bps"] },
  })).loanProduct!;
  assert.is(product2.feeBps, 100);
  assert.equal((await bank.loans.listLoanProducts({ currency: CCY })).loanProducts.map((p) => p.loanProductId), [product.loanProductId]);

  // Borrowers: a driver of its own, an agency and one of its drivers (KYC by the fixtures).
  const lone = await fx.driver();
  const agency = await fx.verifiedAgency();
  const member = await fx.driver(agency.agencyId);
  const assessed = (await bank.credit.assessRisk({ subject: { case: "driverId", value: lone.driverId } })).assessment!;
  assert.ok([RiskCategory.LOW, RiskCategory.MEDIUM, RiskCategory.HIGH].includes(assessed.category), `category ${RiskCategory[assessed.category]}`);
  assert.is((await bank.credit.listRiskAssessments({ subject: { case: "driverId", value: lone.driverId } })).assessments[0]?.riskAssessmentId, assessed.riskAssessmentId);

  const opened = await bank.credit.createCreditLine({ owner: { case: "driverId", value: lone.driverId }, currency: CCY });
  const loneLine = opened.creditLine!;
  assert.is(opened.assessment?.riskAssessmentId, assessed.riskAssessmentId, "the fresh assessment is the one the limit came from");
  assert.is(loneLine.limit?.amountMinor, policy.categoryLimits.find((c) => c.category === assessed.category)?.maxLimit?.amountMinor);
  const again = await failure(bank.credit.createCreditLine({ owner: { case: "driverId", value: lone.driverId }, currency: CCY }));
  assert.is(again.code, Code.AlreadyExists);
  assert.is(again.reason, "CREDIT_LINE_EXISTS");

  const agencyLine = (await bank.credit.createCreditLine({
    owner: { case: "agencyId", value: agency.agencyId }, currency: CCY, limitOverride: ngn(1_000_000n), overrideReason: "fleet of ten, first year",
  })).creditLine!;
  const subLine = (await bank.credit.createCreditLine({
    owner: { case: "driverId", value: member.driverId }, currency: CCY, parentCreditLineId: agencyLine.creditLineId, subLimit: ngn(200_000n),
  })).creditLine!;
  assert.is(subLine.parentCreditLineId, agencyLine.creditLineId);
  const listed = await bank.credit.listCreditLines({});
  assert.equal(
    new Set(listed.creditLines.map((l) => l.creditLineId)),
    new Set([loneLine.creditLineId, agencyLine.creditLineId, subLine.creditLineId]),
    "the bank sees its three lines and nobody else's",
  );

  // Limits and controls on the lone driver's line, each change under the line's version.
  const lowered = (await bank.credit.updateCreditLimit({
    creditLineId: loneLine.creditLineId, expectedVersion: loneLine.version, limit: ngn(2_000_000n),
    decreasePolicy: LimitDecreasePolicy.REJECT, reason: "first month",
  })).creditLine!;
  assert.is(lowered.limit?.amountMinor, 2_000_000n);
  const controlled = (await bank.credit.updateSpendingControls({
    creditLineId: loneLine.creditLineId, expectedVersion: lowered.version,
    controls: { perTransactionMax: ngn(800_000n), allowedFuelTypes: [FuelType.PETROL, FuelType.DIESEL] },
  })).creditLine!;
  assert.is(controlled.controls?.perTransactionMax?.amountMinor, 800_000n);
  // A sub-line frozen for a day and back.
  const frozen = (await bank.credit.freezeCreditLine({ creditLineId: subLine.creditLineId, expectedVersion: subLine.version, reason: "documents to renew" })).creditLine!;
  assert.is(frozen.status, CreditLineStatus.FROZEN);
  const thawed = (await bank.credit.unfreezeCreditLine({ creditLineId: subLine.creditLineId, expectedVersion: frozen.version, reason: "documents renewed" })).creditLine!;
  assert.is(thawed.status, CreditLineStatus.ACTIVE);
  const spendable = (await bank.credit.getAvailableCredit({ driverId: lone.driverId, priceMinorPerLitre: PETROL_PRICE })).spendable!;
  assert.is(spendable.amountMinor, 800_000n, "the per-transaction maximum is what limits one purchase");

  // The driver buys fuel on the line (a station's terminal, not the bank): ₦5,000 held, 6.5 L settled.
  const w = await saleWorld(lone.driverId, lone.token);
  const { payload } = await qrPayload(w);
  const authorized = (await w.pos.unary(RootTransactionService.method.authorize, authorizeRequest(w, payload, 500_000n), { "idempotency-key": randomUUID() })).message.transaction!;
  assert.is(authorized.status, TransactionStatus.AUTHORIZED);
  await w.pos.unary(RootTransactionService.method.settle, settleRequest(authorized.transactionId, 6_500n), { "idempotency-key": randomUUID() });
  w.pos.close();
  const principalMinor = (PETROL_PRICE * 6_500n) / 1000n;

  // The bank sees the sale and its loan.
  const tx = (await bank.transactions.getTransaction({ transactionId: authorized.transactionId })).transaction!;
  assert.is(tx.status, PackageTransactionStatus.SETTLED);
  const loan = await until("the sale's loan", async () =>
    (await bank.loans.listLoans({ creditLineId: loneLine.creditLineId })).loans.find((l) => l.transactionId === authorized.transactionId));
  assert.is(loan.principal?.amountMinor, principalMinor);
  assert.is(loan.loanProductId, product.loanProductId);
  const feeMinor = 100n + principalMinor / 100n; // fee_fixed + 1 % (exact here)
  assert.is(loan.fee?.amountMinor, feeMinor);
  assert.is((await bank.credit.getCreditLine({ creditLineId: loneLine.creditLineId })).creditLine!.used?.amountMinor, principalMinor);
  // The portfolio by days past due: one current loan, owing its principal and fee; the
  // sale's hold, captured, on the line.
  const aging = await bank.loans.getAgingReport({});
  assert.equal(aging.buckets.map((b) => b.loanCount), [1n, 0n, 0n, 0n, 0n]);
  assert.equal(aging.buckets[0]!.outstanding.map((m) => m.amountMinor), [principalMinor + feeMinor]);
  const holds = (await bank.credit.listHolds({ creditLineId: loneLine.creditLineId })).holds;
  assert.equal(holds.map((h) => [h.transactionId, h.capturedAmount?.amountMinor]), [[authorized.transactionId, principalMinor]]);

  // Repayments received at the bank. The first under the bank's own posting reference as
  // its key: sent again (its core system retrying after a restart), it is replayed.
  const postingKey = `CBS-${randomUUID()}`;
  const firstRepay = { loanId: loan.loanId, amount: ngn(100_000n), externalReference: "CBS-POST-0001" };
  const repaid1 = await bank.loans.repayLoan(firstRepay, withIdempotencyKey(postingKey));
  let replayed = "";
  const repaid1Again = await bank.loans.repayLoan(firstRepay, withIdempotencyKey(postingKey, { onHeader: (h) => (replayed = h.get(REPLAYED_HEADER) ?? "") }));
  assert.is(repaid1Again.repayment?.repaymentId, repaid1.repayment?.repaymentId);
  assert.is(replayed, "true");
  assert.is(repaid1.repayment?.allocation?.fee?.amountMinor, feeMinor, "fees first");
  assert.is(repaid1.repayment?.allocation?.principal?.amountMinor, 100_000n - feeMinor);
  const dup = await failure(bank.loans.repayLoan({ ...firstRepay, amount: ngn(1n) }));
  assert.is(dup.code, Code.AlreadyExists);
  assert.is(dup.reason, "DUPLICATE_EXTERNAL_REFERENCE");
  const rest = repaid1.loan!.totalOutstanding!.amountMinor;
  const repaid2 = await bank.loans.repayLoan({ loanId: loan.loanId, amount: ngn(rest), externalReference: "CBS-POST-0002" });
  assert.is(repaid2.loan?.status, LoanStatus.PAID_OFF);
  const late = await failure(bank.loans.repayLoan({ loanId: loan.loanId, amount: ngn(1n), externalReference: "CBS-POST-0003" }));
  assert.is(late.reason, "LOAN_PAID_OFF");

  // The statement, and the line given back its principal.
  const st = await bank.loans.getLoanStatement({ loanId: loan.loanId });
  assert.is(st.totalRepaid?.amountMinor, principalMinor + feeMinor);
  assert.is(st.totalFees?.amountMinor, feeMinor);
  assert.equal(st.repayments.map((r) => [r.externalReference, r.source]), [["CBS-POST-0001", RepaymentSource.BANK_RECORDED], ["CBS-POST-0002", RepaymentSource.BANK_RECORDED]]);
  const kinds = st.events.map((e) => e.kind);
  for (const k of [StatementEventKind.DISBURSEMENT, StatementEventKind.FEE, StatementEventKind.REPAYMENT, StatementEventKind.STATUS_CHANGE]) {
    assert.ok(kinds.includes(k), `statement has ${StatementEventKind[k]}`);
  }
  assert.is(st.events.at(-1)?.totalBalance?.amountMinor, 0n);
  await until("the line's principal restored", async () =>
    (await bank.credit.getCreditLine({ creditLineId: loneLine.creditLineId })).creditLine!.used?.amountMinor === 0n ? true : undefined);
  const entries = (await bank.credit.listLedgerEntries({ creditLineId: loneLine.creditLineId })).entries.map((e) => e.kind);
  for (const k of [JournalEntryKind.LIMIT_CHANGE, JournalEntryKind.HOLD, JournalEntryKind.CAPTURE, JournalEntryKind.REPAYMENT]) {
    assert.ok(entries.includes(k), `ledger has ${JournalEntryKind[k]}`);
  }

  // End of day: the agency's line closes only after its drivers' sub-lines.
  const open = await failure(bank.credit.closeCreditLine({ creditLineId: agencyLine.creditLineId, expectedVersion: agencyLine.version, reason: "programme ended" }));
  assert.is(open.reason, "SUB_LINES_OPEN");
  const subNow = (await bank.credit.getCreditLine({ creditLineId: subLine.creditLineId })).creditLine!;
  await bank.credit.closeCreditLine({ creditLineId: subLine.creditLineId, expectedVersion: subNow.version, reason: "programme ended" });
  const agencyNow = (await bank.credit.getCreditLine({ creditLineId: agencyLine.creditLineId })).creditLine!;
  const closed = (await bank.credit.closeCreditLine({ creditLineId: agencyLine.creditLineId, expectedVersion: agencyNow.version, reason: "programme ended" })).creditLine!;
  assert.is(closed.status, CreditLineStatus.CLOSED);

  // On the wire: every call signed; every change keyed, and never two changes on one key
  // except the bank's deliberate replay.
  const api = wire.filter((a) => a.method !== "ExchangeClientCredentials");
  assert.ok(api.every((a) => a.authorization?.startsWith("Bearer ")), "every call carries the token");
  const changes = api.filter((a) => a.key !== null);
  const changeMethods = new Set(changes.map((a) => a.method));
  for (const m of ["SetCreditPolicy", "CreateLoanProduct", "UpdateLoanProduct", "AssessRisk", "CreateCreditLine", "UpdateCreditLimit", "UpdateSpendingControls", "FreezeCreditLine", "UnfreezeCreditLine", "RepayLoan", "CloseCreditLine"]) {
    assert.ok(changeMethods.has(m), `${m} carried an idempotency key`);
  }
  assert.not.ok(api.some((a) => a.key !== null && ["GetCreditPolicy", "GetCreditLine", "ListLoans", "GetLoanStatement"].includes(a.method)), "reads carry no key");
  const perKey = new Map<string, number>();
  for (const a of changes) perKey.set(a.key!, (perKey.get(a.key!) ?? 0) + 1);
  assert.equal([...perKey].filter(([, n]) => n > 1), [[postingKey, 2]]);
});

test("the token is renewed before it expires, by one exchange for many waiting calls", async () => {
  const cred = await bankCredential();
  const wire: Attempt[] = [];
  let skewMs = 0;
  const bank = bankClient(cred, { interceptors: [recorder(wire)], now: () => Date.now() + skewMs });
  const exchanges = () => wire.filter((a) => a.method === "ExchangeClientCredentials");

  await bank.auth.getMe({});
  assert.is(exchanges().length, 1);
  const issued = exchanges()[0]!.response as { expiresAt: { seconds: bigint } };
  const lifeS = Number(issued.expiresAt.seconds) - Date.now() / 1000;
  assert.ok(lifeS > TOKEN_TTL_S - 5 && lifeS <= TOKEN_TTL_S, `the server's ${TOKEN_TTL_S} s token (${lifeS.toFixed(1)} s left)`);

  // 50 s on: still before the renewal point (10 % of the life left, 6 s): the same token.
  skewMs = 50_000;
  await bank.auth.getMe({});
  assert.is(exchanges().length, 1);
  const firstToken = wire.at(-1)!.authorization;

  // 55 s on: within the margin. Ten calls at once wait for one exchange and use its token.
  skewMs = 55_000;
  const answers = await Promise.all(Array.from({ length: 10 }, () => bank.credit.listCreditLines({})));
  assert.is(answers.length, 10);
  assert.is(exchanges().length, 2, "one exchange for all ten");
  const after = wire.slice(-10);
  assert.ok(after.every((a) => a.method === "ListCreditLines" && a.code === undefined), "renewed before expiry: nothing refused");
  assert.is(new Set(after.map((a) => a.authorization)).size, 1);
  assert.is.not(after[0]!.authorization, firstToken);
});

test("a token the server refuses is replaced once; a second refusal is the caller's", async () => {
  const cred = await bankCredential();
  // The client's clock runs 70 s behind AuthService's: tokens it is given look fresh to it.
  const behindMs = 70_000;
  const wire: Attempt[] = [];
  const bank = bankClient(cred, {
    now: () => Date.now() - behindMs,
    interceptors: [
      recorder(wire, (a) => {
        // AuthService signed the first token with its clock set back: it expired on arrival.
        // From then on its clock is right again, and the next token is good.
        if (a.method === "ExchangeClientCredentials") sys.clock.offsetMs = 0;
      }),
    ],
  });
  try {
    sys.clock.offsetMs = -behindMs;
    const me = await bank.auth.getMe({});
    assert.is(me.principal?.bankId, cred.bankId);
    assert.equal(wire.map((a) => [a.method, a.reason ?? "OK"]), [
      ["ExchangeClientCredentials", "OK"],
      ["GetMe", "TOKEN_EXPIRED"],
      ["ExchangeClientCredentials", "OK"],
      ["GetMe", "OK"],
    ]);

    // Every token AuthService signs is already expired: one retry, then the error.
    const stubbornWire: Attempt[] = [];
    const stubborn = bankClient(cred, { now: () => Date.now() - behindMs, interceptors: [recorder(stubbornWire)] });
    sys.clock.offsetMs = -behindMs;
    const err = await failure(stubborn.auth.getMe({}));
    assert.is(err.code, Code.Unauthenticated);
    assert.is(err.reason, "TOKEN_EXPIRED");
    assert.equal(stubbornWire.map((a) => a.method), ["ExchangeClientCredentials", "GetMe", "ExchangeClientCredentials", "GetMe"]);
  } finally {
    sys.clock.offsetMs = 0;
  }
});

test("errors are typed: code, reason, the field to fix, the trace id; none is retried", async () => {
  const cred = await bankCredential();
  const wire: Attempt[] = [];
  const bank = bankClient(cred, { interceptors: [recorder(wire)] });

  const bad = await failure(bank.credit.setCreditPolicy({ currency: "naira", expectedVersion: 0n, categoryLimits: [] }));
  assert.ok(bad instanceof ConnectError, "still a ConnectError to Connect's own checks");
  assert.is(bad.code, Code.InvalidArgument);
  assert.is(bad.reason, "INVALID_FIELD");
  assert.is(bad.field, "currency");
  assert.is(bad.fieldViolations[0]?.field, "currency");
  assert.match(bad.traceId ?? "", /^[0-9a-f]{32}$/);

  const zero = await failure(bank.loans.repayLoan({ loanId: randomUUID(), amount: ngn(0n), externalReference: "CBS-X" }));
  assert.is(zero.field, "amount.amount_minor");

  const missing = await failure(bank.loans.getLoan({ loanId: randomUUID() }));
  assert.is(missing.code, Code.NotFound);
  assert.ok(isKnownReason(missing.reason), `a known reason: ${missing.reason}`);
  // A reason newer than the client still comes through, as a plain string.
  const newer = FuelApiError.from(new ConnectError("x", Code.FailedPrecondition, undefined, [{ desc: ErrorInfoSchema, value: { reason: "SOMETHING_NEW", domain: "fuel.clearinghouse" } }]));
  assert.is(newer.reason, "SOMETHING_NEW");
  assert.not.ok(isKnownReason(newer.reason));
  assert.ok(KNOWN_REASONS.includes("REPAYMENT_EXCEEDS_OUTSTANDING") && KNOWN_REASONS.includes("TOKEN_EXPIRED"), "the contracts' reasons and the platform's");

  // The same key with another request is the caller's mistake (keys are per method).
  const key = `CBS-${randomUUID()}`;
  await bank.credit.setCreditPolicy({ currency: CCY, expectedVersion: 0n, categoryLimits: [{ category: RiskCategory.LOW, maxLimit: ngn(1n) }] }, withIdempotencyKey(key));
  const reused = await failure(bank.credit.setCreditPolicy({ currency: CCY, expectedVersion: 0n, categoryLimits: [{ category: RiskCategory.LOW, maxLimit: ngn(2n) }] }, withIdempotencyKey(key)));
  assert.is(reused.reason, "IDEMPOTENCY_KEY_REUSED");
  assert.is(reused.field, "idempotency-key");

  assert.throws(() => withIdempotencyKey("has space"), /printable ASCII/);

  // A wrong secret fails the call it was needed for, typed like any other error.
  const wrong = bankClient({ clientId: cred.clientId, clientSecret: "not-the-secret" });
  const refused = await failure(wrong.credit.listCreditLines({}));
  assert.is(refused.code, Code.Unauthenticated);
  assert.is(refused.reason, "CLIENT_CREDENTIALS_INVALID");
  const attemptsPerCall = wire.filter((a) => a.method !== "ExchangeClientCredentials" && a.code !== undefined).length;
  assert.is(attemptsPerCall, 4, "four refusals, one attempt each");
});

// ---------------------------------------------------------------------------------------
// Retries, against a small local gRPC server that fails when told to.

interface Stub {
  url: string;
  /** Every RepayLoan attempt the server received. */
  seen: Array<{ key: string | null; timeoutHeader: string | null; atMs: number }>;
  close(): Promise<void>;
}

/** AuthService hands out a 15-minute token; RepayLoan answers with `answer(attempt)`. */
async function stub(answer: (attempt: number) => Error | undefined): Promise<Stub> {
  const seen: Stub["seen"] = [];
  const routes = (router: ConnectRouter) => {
    router.service(AuthService, {
      exchangeClientCredentials: () => ({
        accessToken: "stub-token",
        expiresAt: { seconds: BigInt(Math.floor(Date.now() / 1000) + 900), nanos: 0 },
        principal: { role: Role.BANK_SYSTEM, bankId: "stub-bank" },
      }),
    });
    router.service(LoanService, {
      repayLoan: (req, ctx) => {
        seen.push({ key: ctx.requestHeader.get("idempotency-key"), timeoutHeader: ctx.requestHeader.get("grpc-timeout"), atMs: performance.now() });
        const err = answer(seen.length);
        if (err) throw err;
        return { repayment: { repaymentId: "r-1", loanId: req.loanId, amount: req.amount } };
      },
    });
  };
  const server = http2.createServer(connectNodeAdapter({ routes }));
  // A client keeps its connection open; closing the server waits for it otherwise.
  const sessions = new Set<http2.Http2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const session of sessions) session.destroy();
      }),
  };
}

const unavailable = () => new ConnectError("database unavailable; retry", Code.Unavailable, undefined, [{ desc: ErrorInfoSchema, value: { reason: "DATABASE_UNAVAILABLE", domain: "fuel.clearinghouse" } }]);
const repay = { loanId: "loan-1", amount: ngn(5_000n), externalReference: "CBS-1" };

function stubClient(s: Stub, over: Partial<BankClientOptions> = {}): BankClient {
  const c = createBankClient({ baseUrl: s.url, clientId: "c", clientSecret: "s", random: () => 0, ...over });
  clients.push(c);
  return c;
}

test("a money call retried under UNAVAILABLE keeps its idempotency key; the next call gets a new one", async () => {
  const s = await stub((attempt) => (attempt === 1 || attempt === 3 ? unavailable() : undefined));
  try {
    const bank = stubClient(s);
    const res = await bank.loans.repayLoan(repay);
    assert.is(res.repayment?.repaymentId, "r-1");
    await bank.loans.repayLoan(repay);
    const keys = s.seen.map((x) => x.key);
    assert.is(keys.length, 4);
    assert.match(keys[0]!, /^[0-9a-f-]{36}$/);
    assert.is(keys[1], keys[0], "the retry carries the first attempt's key");
    assert.is(keys[3], keys[2]);
    assert.is.not(keys[2], keys[0], "a new logical call, a new key");

    // A caller's own key is the one sent, on every attempt (the first fails again).
    s.seen.length = 0;
    await bank.loans.repayLoan(repay, withIdempotencyKey("CBS-POSTING-42"));
    assert.equal(s.seen.map((x) => x.key), ["CBS-POSTING-42", "CBS-POSTING-42"]);
  } finally {
    await s.close();
  }
});

test("retries are bounded, jittered within their ceiling, and never outlast the call's deadline", async () => {
  const s = await stub(() => unavailable());
  try {
    const capped = stubClient(s, { retry: { maxAttempts: 3, initialBackoffMs: 10 } });
    const err = await failure(capped.loans.repayLoan(repay));
    assert.is(err.code, Code.Unavailable);
    assert.is(err.reason, "DATABASE_UNAVAILABLE");
    assert.is(s.seen.length, 3);
    assert.is(new Set(s.seen.map((x) => x.key)).size, 1);

    // Backoff ceilings 400 then 800 ms at full jitter (random() ≈ 1): a 600 ms deadline
    // leaves room for one retry only, which is told what is left of the deadline.
    s.seen.length = 0;
    const slow = stubClient(s, { retry: { maxAttempts: 10, initialBackoffMs: 400 }, random: () => 0.999 });
    await slow.principal(); // connected and signed in: the deadline is the calls' alone
    const started = performance.now();
    const late = await failure(slow.loans.repayLoan(repay, { timeoutMs: 600 }));
    const tookMs = performance.now() - started;
    assert.ok(tookMs < 600, `gave up within the deadline (${tookMs.toFixed(0)} ms)`);
    assert.is(late.code, Code.Unavailable, "the last failure, not a timeout of our own making");
    assert.is(s.seen.length, 2);
    assert.is(s.seen[0]!.timeoutHeader, "600m");
    const left = Number(s.seen[1]!.timeoutHeader!.slice(0, -1));
    assert.ok(left > 0 && left <= 200, `the retry carries what is left of the deadline (${left} ms)`);
    assert.ok(s.seen[1]!.atMs - s.seen[0]!.atMs >= 395, "waited out its backoff");
  } finally {
    await s.close();
  }
});

test("only passing failures are retried; RetryInfo's delay is waited out", async () => {
  const failing = (code: Code, reason: string, retryAfterMs?: number) => () =>
    new ConnectError("no", code, undefined, [
      { desc: ErrorInfoSchema, value: { reason, domain: "fuel.clearinghouse" } },
      ...(retryAfterMs === undefined ? [] : [{ desc: RetryInfoSchema, value: { retryDelay: { seconds: 0n, nanos: retryAfterMs * 1e6 } } }]),
    ]);
  const cases: Array<[string, (attempt: number) => Error | undefined, number]> = [
    ["FAILED_PRECONDITION", failing(Code.FailedPrecondition, "LOAN_PAID_OFF"), 1],
    ["ABORTED VERSION_MISMATCH", failing(Code.Aborted, "VERSION_MISMATCH"), 1],
    ["RESOURCE_EXHAUSTED without RetryInfo", failing(Code.ResourceExhausted, "RATE_LIMITED"), 1],
    ["INVALID_ARGUMENT", failing(Code.InvalidArgument, "INVALID_FIELD"), 1],
    ["ABORTED IDEMPOTENCY_KEY_IN_PROGRESS", (n) => (n === 1 ? failing(Code.Aborted, "IDEMPOTENCY_KEY_IN_PROGRESS")() : undefined), 2],
    ["ABORTED TRANSACTION_CONFLICT", (n) => (n === 1 ? failing(Code.Aborted, "TRANSACTION_CONFLICT")() : undefined), 2],
    ["RESOURCE_EXHAUSTED with RetryInfo", (n) => (n === 1 ? failing(Code.ResourceExhausted, "RATE_LIMITED", 150)() : undefined), 2],
  ];
  for (const [name, answer, attempts] of cases) {
    const s = await stub(answer);
    try {
      await stubClient(s).loans.repayLoan(repay).catch((e: unknown) => e);
      assert.is(s.seen.length, attempts, `${name}: ${attempts} attempt(s)`);
      if (name.includes("with RetryInfo")) assert.ok(s.seen[1]!.atMs - s.seen[0]!.atMs >= 145, `${name}: waited the server's delay`);
    } finally {
      await s.close();
    }
  }
});

// ---------------------------------------------------------------------------------------
// The package itself.

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(p);
  }
  return out;
}

test("the package's generated code (messages, services, reasons) is what proto/ generates today", async () => {
  const scratch = await mkdtemp(join(tmpdir(), "bank-client-gen-"));
  try {
    await run(BUF, ["generate", "-o", scratch], { cwd: PACKAGE_DIR });
    await run(process.execPath, [join(PACKAGE_DIR, "scripts/generate-reasons.mjs"), join(scratch, "src/gen/contract_reasons.ts")]);
    const fresh = join(scratch, "src/gen");
    const shipped = join(PACKAGE_DIR, "src/gen");
    const names = async (d: string) => (await filesUnder(d)).map((f) => relative(d, f)).sort();
    const files = await names(fresh);
    assert.ok(files.includes("fuel/credit/v1/credit_pb.ts") && files.includes("google/rpc/error_details_pb.ts") && files.includes("contract_reasons.ts"));
    assert.equal(await names(shipped), files, "the same files (run `npm run generate -w @fuel/bank-client`)");
    for (const f of files) {
      assert.ok((await readFile(join(fresh, f), "utf8")) === (await readFile(join(shipped, f), "utf8")), `${f} is stale: run \`npm run generate -w @fuel/bank-client\``);
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
});

test("the built package imports by name: compiled JS, declarations, subpath exports", async () => {
  const built = await build;
  assert.not.ok(built instanceof Error, `tsc -p clients/typescript: ${String((built as { stdout?: string })?.stdout ?? built)}`);
  for (const f of ["dist/index.js", "dist/index.d.ts", "dist/client.d.ts", "dist/gen/fuel/loan/v1/loan_pb.js"]) {
    assert.ok((await stat(join(PACKAGE_DIR, f))).isFile(), f);
  }
  // A variable specifier: resolved at run time through the workspace link and `exports`.
  const name = "@fuel/bank-client";
  const pkg = (await import(name)) as typeof import("../clients/typescript/src/index.js");
  const station = (await import(`${name}/gen/fuel/station/v1/station_pb.js`)) as { StationService: DescService };
  assert.is(station.StationService.typeName, "fuel.station.v1.StationService");
  const cred = await bankCredential();
  const bank = pkg.createBankClient({ baseUrl: sys.gatewayUrl, clientId: cred.clientId, clientSecret: cred.clientSecret });
  clients.push(bank);
  assert.is((await bank.principal()).bankId, cred.bankId);
  const err = await bank.credit.getCreditPolicy({ currency: CCY }).catch((e: unknown) => e);
  assert.ok(err instanceof pkg.FuelApiError);
  assert.is((err as FuelApiError).reason, "CREDIT_POLICY_NOT_FOUND");
  assert.ok(create(pkg.MoneySchema, { amountMinor: 1n, currency: CCY }).amountMinor === 1n);

  // The README's example compiles against the built package, as an integrator pastes it.
  const readme = await readFile(join(PACKAGE_DIR, "README.md"), "utf8");
  const example = /## A bank's day\n\n```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(example && example.includes("createBankClient"), "the README has its example");
  const scratch = await mkdtemp(join(PACKAGE_DIR, ".tmp-example-"));
  try {
    await writeFile(join(scratch, "example.mts"), example);
    const tsc = new URL("../node_modules/typescript/bin/tsc", import.meta.url).pathname;
    const flags = ["--noEmit", "--strict", "--target", "es2022", "--module", "nodenext", "--moduleResolution", "nodenext", "--skipLibCheck", "--types", "node"];
    const checked = await run(process.execPath, [tsc, ...flags, join(scratch, "example.mts")], { cwd: PACKAGE_DIR }).catch((e: { stdout?: string }) => e);
    assert.not.ok("code" in checked, `the README example does not compile:\n${checked.stdout}`);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
});

test.run();
