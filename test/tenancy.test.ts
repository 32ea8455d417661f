// Tenancy: no organisation reaches another's resources. Two of every kind of organisation
// (banks with their core systems, merchants with a station and a terminal, agencies with
// a driver, lone drivers), every caller signed in through the real flows, all through the
// gateway. Every public RPC that takes or returns a resource id has a row in CASES (the
// suite fails when one has none: the list comes from the descriptors and their
// policies), and each row is called by every actor over grpc-js and over Connect JSON:
// owners must succeed; everyone else must get NOT_FOUND or PERMISSION_DENIED (or, for a
// list, an answer holding nothing of the owner's) and no foreign data — no id or name of
// the world may appear in an error unless the caller sent it. Non-owners go first; owners
// of a call that consumes its resource each get a fresh one. Rows public by design say
// why and are asserted to succeed for everyone. The exploit that opened issue 11 (a
// terminal bound to a competitor's station) and the probes found while auditing have
// their own tests.
import { randomUUID } from "node:crypto";
import * as assert from "uvu/assert";
import { create, toJsonString, type DescMessage, type DescMethod } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { AuthService, MachineKind } from "../gen/fuel/auth/v1/auth_pb.js";
import { FuelType, Role } from "../gen/fuel/common/v1/common_pb.js";
import { CreditLineStatus, RiskCategory } from "../gen/fuel/credit/v1/credit_line_pb.js";
import { CreditService } from "../gen/fuel/credit/v1/credit_pb.js";
import { AgencyMembershipStatus, Decision, DocumentType, KycService, MembershipDecision } from "../gen/fuel/kyc/v1/kyc_pb.js";
import { LoanService } from "../gen/fuel/loan/v1/loan_pb.js";
import { NotificationService, PushPlatform } from "../gen/fuel/notification/v1/notification_pb.js";
import { PaymentMethod, PaymentService } from "../gen/fuel/payment/v1/payment_pb.js";
import { StationService } from "../gen/fuel/station/v1/station_pb.js";
import { TransactionService, TransactionStatus } from "../gen/fuel/transaction/v1/transaction_pb.js";
import { policyOf, publicMethods } from "../platform/policy.js";
import { ALL_SERVICES } from "../services/registry.js";
import { hashSecret, newClientSecret } from "../services/auth/machines.js";
import { insertMachine } from "../services/auth/store.js";
import { creditSuite } from "./credit-fixtures.js";
import { machineSignIn, PROTOCOLS, staffSignIn, Wire, type Actor, type Outcome, type Protocol } from "./helpers/actors.js";
import { startTestSystem } from "./helpers/system.js";
import { bounded, CCY, ngn, PDF, PNG, PRICE, SALE_MINOR, WorldBuilder, type Family, type World } from "./tenancy-world.js";

const test = creditSuite("tenancy");
const BOOTSTRAP_PHONE = `+23470${String(Math.floor(Math.random() * 1e8)).padStart(8, "0")}`;
const CONCURRENCY = 8;
let w: World;
let builder: WorldBuilder;

// ------------------------------------------------------------------------------ actors

const familyActors = (f: Family): Actor[] => [f.bankAdmin, f.bankSystem, f.merchantAdmin, f.terminal, f.agencyAdmin, f.agencyDriver, f.loneDriver];
const everyone = (): Actor[] => [w.sysadmin, ...familyActors(w.A), ...familyActors(w.B)];
const BANKS = ["bankAdminA", "bankSystemA", "bankAdminB", "bankSystemB"];
const LENDER_A = ["bankAdminA", "bankSystemA"];
/** The next fresh resource for an owner; by default the last one stays for the non-owners, who went first. */
const take = (pool: string[], spare = 1): string => {
  if (pool.length <= spare) throw new Error("pool exhausted: size it in the world's pools()");
  return pool.shift()!;
};
const keep = (pool: string[]): string => pool[pool.length - 1]!;

// ------------------------------------------------------------------------------ cases

interface Call {
  actor: Actor;
  protocol: Protocol;
  owner: boolean;
}

type Req = Record<string, unknown>;

interface Case {
  method: DescMethod;
  /** Whose resource, for the report. */
  what: string;
  /** Callers that must succeed; everyone else must be denied. */
  owners?: string[];
  /** Public by design (why): everyone whose role the policy admits must succeed. */
  public?: string;
  /** Acts on the caller's own (why): each caller whose role is admitted succeeds on its own binding. */
  self?: string;
  /** Self rows whose request needs something only some callers have. */
  callers?: (a: Actor) => boolean;
  request(c: Call): Req | Promise<Req>;
  /** Strings that identify the owner's resource: in every owner's answer, in no one else's. */
  marks?: () => string[];
  /** An owner's (or self caller's) answer is right. */
  expect?: (res: any, req: Req, c: Call) => boolean;
  /** A non-owner's successful answer that gives nothing away (lists, filters, marking). */
  denied?: (res: any) => boolean;
  after?: (res: any, c: Call) => void;
}

const A = () => w.A;
const m = <S extends { method: Record<string, DescMethod> }>(s: S, name: keyof S["method"]) => s.method[name as string]!;
const driverOwner = (f: () => Family) => ({ owner: { case: "driverId", value: f().agencyDriver.principal.driverId } });
const versionOfLine = async (lineId: string) =>
  (await w.wire.must("connect", CreditService.method.getCreditLine, { creditLineId: lineId }, w.sysadmin.token)).creditLine!.version;

const versionOfProgram = async (programId: string) =>
  (await w.wire.must("connect", CreditService.method.getCreditProgram, { creditProgramId: programId }, w.sysadmin.token)).creditProgram!.version;

/** Brings the sub-line back to ACTIVE (as the SYSTEM_ADMIN) before a freeze or unfreeze is tried. */
async function activeSubLine(): Promise<void> {
  const line = (await w.wire.must("connect", CreditService.method.getCreditLine, { creditLineId: A().subLineId }, w.sysadmin.token)).creditLine!;
  if (line.status !== CreditLineStatus.ACTIVE) {
    await w.wire.must("connect", CreditService.method.unfreezeCreditLine, { creditLineId: line.creditLineId, expectedVersion: line.version, reason: "matrix reset" }, w.sysadmin.token);
  }
}

const CASES: Case[] = [
  // ---- AuthService
  { method: m(AuthService, "getMe"), what: "the caller itself", self: "a principal reads only itself", request: () => ({}), expect: (r, _q, c) => r.principal.subjectId === c.actor.principal.subjectId },
  {
    method: m(AuthService, "refreshSession"), what: "the caller's session", self: "the refresh token is the capability; the session is the presenter's own",
    callers: (a) => !!a.refreshToken, request: (c) => ({ refreshToken: c.actor.refreshToken! }),
    expect: (r, _q, c) => r.session.principal.subjectId === c.actor.principal.subjectId,
    after: (r, c) => (c.actor.refreshToken = r.session.refreshToken),
  },
  ...(["bank", "merchant", "agency"] as const).map((kind): Case => ({
    method: m(AuthService, "createUser"), what: `an admin of ${kind} A`,
    owners: ["sysadmin", `${kind}AdminA`],
    request: () => ({
      phone: `+23494${String(Math.floor(Math.random() * 1e8)).padStart(8, "0")}`, displayName: "Matrix admin",
      role: { bank: Role.BANK_ADMIN, merchant: Role.MERCHANT_ADMIN, agency: Role.AGENCY_ADMIN }[kind],
      organizationId: { bank: A().bankId, merchant: A().merchantId, agency: A().agencyId }[kind],
    }),
    marks: () => [{ bank: A().bankId, merchant: A().merchantId, agency: A().agencyId }[kind]],
  })),
  ...(["bankAdmin", "merchantAdmin", "agencyAdmin"] as const).map((who): Case => ({
    method: m(AuthService, "getUser"), what: `${who}A's user`, owners: ["sysadmin", `${who}A`],
    request: () => ({ userId: A()[who].principal.subjectId }), marks: () => [A()[who].principal.subjectId],
  })),
  {
    method: m(AuthService, "listUsers"), what: "bank A's admins", owners: ["sysadmin", "bankAdminA"],
    request: () => ({ pageSize: 200, role: Role.BANK_ADMIN }), marks: () => [A().bankAdmin.principal.subjectId],
  },
  {
    method: m(AuthService, "disableUser"), what: "a spare admin of bank A", owners: ["sysadmin"],
    request: (c) => ({ userId: c.owner ? take(w.pools.users) : keep(w.pools.users) }),
    expect: (r, q) => r.user.userId === q.userId && r.user.active === false,
  },
  {
    method: m(AuthService, "createMachineCredential"), what: "a POS terminal of station A", owners: ["sysadmin", "merchantAdminA"],
    // Each merchant admin names its own merchant: B naming A's station is the exploit.
    request: (c) => ({ kind: MachineKind.POS_TERMINAL, stationId: A().stationId, merchantId: c.actor.principal.merchantId || A().merchantId, label: "Matrix pump" }),
    marks: () => [A().stationId],
  },
  {
    method: m(AuthService, "createMachineCredential"), what: "bank A's core system", owners: ["sysadmin", "bankAdminA"],
    request: () => ({ kind: MachineKind.BANK_SYSTEM, bankId: A().bankId, label: "Matrix core" }), marks: () => [A().bankId],
  },
  {
    method: m(AuthService, "revokeMachineCredential"), what: "a spare terminal of station A", owners: ["sysadmin", "merchantAdminA"],
    request: (c) => ({ clientId: c.owner ? take(w.pools.credentials) : keep(w.pools.credentials) }),
    expect: (r, q) => r.credential.clientId === q.clientId && r.credential.active === false,
  },
  {
    // A foreign station in the filter is answered like any station with nothing of the caller's.
    method: m(AuthService, "listMachineCredentials"), what: "station A's terminals", owners: ["sysadmin", "merchantAdminA"],
    request: () => ({ stationId: A().stationId, pageSize: 200 }), marks: () => [A().terminal.principal.subjectId],
  },
  {
    method: m(AuthService, "listMachineCredentials"), what: "bank A's core systems", owners: ["sysadmin", "bankAdminA"],
    request: () => ({ kind: MachineKind.BANK_SYSTEM, pageSize: 200 }), marks: () => [A().bankSystem.principal.subjectId],
  },

  // ---- KycService (banks read every applicant and review KYC by design: they lend to anyone)
  {
    method: m(KycService, "getDriver"), what: "agency A's driver", owners: ["agencyDriverA", "agencyAdminA", ...BANKS, "sysadmin"],
    request: () => ({ driverId: A().agencyDriver.principal.driverId }), marks: () => [A().agencyDriver.principal.driverId],
  },
  {
    method: m(KycService, "getDriver"), what: "lone driver A", owners: ["loneDriverA", ...BANKS, "sysadmin"],
    request: () => ({ driverId: A().loneDriver.principal.driverId }), marks: () => [A().loneDriver.principal.driverId],
  },
  {
    method: m(KycService, "listDrivers"), what: "agency A's drivers", owners: ["agencyAdminA", ...BANKS, "sysadmin"],
    request: () => ({ agencyId: A().agencyId, pageSize: 200 }), marks: () => [A().agencyDriver.principal.driverId],
  },
  {
    method: m(KycService, "getDriver"), what: "a driver asking to join agency A", owners: ["agencyAdminA", ...BANKS, "sysadmin"],
    request: () => ({ driverId: keep(w.pools.membershipRequests) }), marks: () => [keep(w.pools.membershipRequests)],
  },
  {
    method: m(KycService, "listDrivers"), what: "the requests to join agency A", owners: ["agencyAdminA", ...BANKS, "sysadmin"],
    request: () => ({ agencyId: A().agencyId, membershipStatus: AgencyMembershipStatus.PENDING, pageSize: 200 }), marks: () => [keep(w.pools.membershipRequests)],
  },
  {
    method: m(KycService, "decideAgencyMembership"), what: "a driver's request to join agency A", owners: ["agencyAdminA", "sysadmin"],
    request: (c) => ({
      driverId: c.owner ? take(w.pools.membershipRequests) : keep(w.pools.membershipRequests), agencyId: A().agencyId, decision: MembershipDecision.ACCEPT,
    }),
    expect: (r, q) => r.driver.driverId === q.driverId && r.driver.agencyId === A().agencyId,
  },
  {
    method: m(KycService, "updateDriverProfile"), what: "agency A's driver", owners: ["agencyDriverA", "sysadmin"],
    request: () => ({ driverId: A().agencyDriver.principal.driverId, email: "matrix@example.com" }), marks: () => [A().agencyDriver.principal.driverId],
  },
  {
    method: m(KycService, "createAgency"), what: "a new agency", owners: ["sysadmin"],
    request: () => ({ name: "Matrix Haulage", registrationNumber: `RC-M${randomUUID().slice(0, 8)}`, contactEmail: "m@h.example", contactPhone: "+2348020000001" }),
    expect: (r) => !!r.agency.agencyId,
  },
  {
    method: m(KycService, "getAgency"), what: "agency A", owners: ["agencyAdminA", ...BANKS, "sysadmin"],
    request: () => ({ agencyId: A().agencyId }), marks: () => [A().agencyId],
  },
  { method: m(KycService, "listAgencies"), what: "agency A", owners: [...BANKS, "sysadmin"], request: () => ({ pageSize: 200 }), marks: () => [A().agencyId] },
  {
    method: m(KycService, "updateAgencyProfile"), what: "agency A", owners: ["agencyAdminA", "sysadmin"],
    request: () => ({ agencyId: A().agencyId, address: "2 Wharf Road, Lagos" }), marks: () => [A().agencyId],
  },
  { method: m(KycService, "createBank"), what: "a new bank", owners: ["sysadmin"], request: () => ({ name: "Matrix Bank", code: `M${randomUUID().slice(0, 8).toUpperCase()}`, currency: CCY }), expect: (r) => !!r.bank.bankId },
  { method: m(KycService, "getBank"), what: "bank A", owners: [...LENDER_A, "sysadmin"], request: () => ({ bankId: A().bankId }), marks: () => [A().bankId] },
  { method: m(KycService, "listBanks"), what: "bank A", owners: ["sysadmin"], request: () => ({ pageSize: 200 }), marks: () => [A().bankId] },
  {
    method: m(KycService, "createMerchant"), what: "a new merchant", owners: ["sysadmin"],
    request: () => ({ name: "Matrix Fuels", registrationNumber: `RC-M${randomUUID().slice(0, 8)}`, contactEmail: "m@f.example" }), expect: (r) => !!r.merchant.merchantId,
  },
  { method: m(KycService, "getMerchant"), what: "merchant A", owners: ["merchantAdminA", "sysadmin"], request: () => ({ merchantId: A().merchantId }), marks: () => [A().merchantId] },
  { method: m(KycService, "listMerchants"), what: "merchant A", owners: ["sysadmin"], request: () => ({ pageSize: 200 }), marks: () => [A().merchantId] },
  {
    method: m(KycService, "uploadDocument"), what: "agency A's KYC", owners: ["agencyAdminA"],
    request: () => ({ owner: { owner: { case: "agencyId", value: A().agencyId } }, documentType: DocumentType.TAX_CERTIFICATE, content: PDF, fileName: "tin.pdf" }),
    marks: () => [A().agencyId],
  },
  {
    method: m(KycService, "listDocuments"), what: "agency A's driver's documents", owners: ["agencyDriverA", "agencyAdminA", "bankAdminA", "bankAdminB", "sysadmin"],
    request: () => ({ owner: driverOwner(A) }), marks: () => [A().documentId],
  },
  {
    method: m(KycService, "getDocumentContent"), what: "agency A's driver's document", owners: ["agencyDriverA", "agencyAdminA", "bankAdminA", "bankAdminB", "sysadmin"],
    request: () => ({ documentId: A().documentId }), marks: () => [A().documentId],
  },
  {
    method: m(KycService, "getKycStatus"), what: "agency A's driver's KYC", owners: ["agencyDriverA", "agencyAdminA", ...BANKS, "sysadmin"],
    request: () => ({ owner: driverOwner(A) }), expect: (r) => r.overall > 0,
  },
  {
    method: m(KycService, "verifyDocument"), what: "a pending document of agency A", owners: ["bankAdminA", "bankAdminB", "sysadmin"],
    request: async (c) => ({
      documentId: c.owner ? await builder.agencyDocument("connect", A().agencyAdmin, A().agencyId) : w.pools.pendingDocumentId,
      decision: Decision.APPROVE,
    }),
    expect: (r, q) => r.document.documentId === q.documentId,
  },

  // ---- CreditService
  {
    method: m(CreditService, "assessRisk"), what: "agency A's driver", owners: [...BANKS, "sysadmin"],
    request: () => ({ subject: { case: "driverId", value: A().agencyDriver.principal.driverId } }), marks: () => [A().agencyDriver.principal.driverId],
  },
  {
    method: m(CreditService, "listRiskAssessments"), what: "the assessment behind lone driver A's line", owners: [...LENDER_A, "sysadmin"],
    request: () => ({ subject: { case: "driverId", value: A().loneDriver.principal.driverId } }), marks: () => [A().loneAssessmentId],
  },
  {
    method: m(CreditService, "getCreditPolicy"), what: "bank A's policy", owners: [...LENDER_A, "sysadmin"],
    request: () => ({ bankId: A().bankId, currency: CCY }), marks: () => [A().bankId],
  },
  {
    method: m(CreditService, "setCreditPolicy"), what: "the caller's bank's policy", self: "a bank sets only its own policy; the request names no bank",
    request: async (c) => ({
      currency: CCY,
      expectedVersion: c.actor.principal.bankId
        ? (await w.wire.must("connect", CreditService.method.getCreditPolicy, { currency: CCY }, c.actor.token)).policy!.version
        : 1n,
      categoryLimits: [RiskCategory.LOW, RiskCategory.MEDIUM, RiskCategory.HIGH].map((category) => ({ category, maxLimit: ngn(1_000_000n) })),
    }),
    expect: (r, _q, c) => r.policy.bankId === c.actor.principal.bankId,
  },
  {
    method: m(CreditService, "createCreditLine"), what: "a sub-line under agency A's line", owners: ["agencyAdminA", ...LENDER_A],
    request: (c) => ({
      owner: { case: "driverId", value: c.owner ? take(w.pools.subLineDrivers) : keep(w.pools.subLineDrivers) },
      currency: CCY, parentCreditLineId: A().agencyLineId,
    }),
    marks: () => [A().agencyLineId],
    after: (r) => w.pools.close.unshift(r.creditLine.creditLineId),
  },
  {
    method: m(CreditService, "createCreditLine"), what: "a root line for a lone driver", owners: BANKS,
    // Any bank lends to any KYC-verified applicant; the line is bound to the caller's bank.
    request: (c) => ({ owner: { case: "driverId", value: c.owner ? take(w.pools.rootLineDrivers) : keep(w.pools.rootLineDrivers) }, currency: CCY }),
    expect: (r, _q, c) => r.creditLine.bankId === c.actor.principal.bankId,
  },
  {
    method: m(CreditService, "createCreditLine"), what: "a root line in bank A's program", owners: LENDER_A,
    request: (c) => ({ owner: { case: "driverId", value: c.owner ? take(w.pools.rootLineDrivers) : keep(w.pools.rootLineDrivers) }, currency: CCY, creditProgramId: A().programId }),
    marks: () => [A().programId],
  },
  {
    method: m(CreditService, "createCreditProgram"), what: "the caller's bank's program", self: "a bank creates programs only for itself; the request names no bank",
    request: () => ({ name: "matrix", cap: ngn(1_000_000n) }),
    expect: (r, _q, c) => r.creditProgram.bankId === c.actor.principal.bankId,
  },
  {
    method: m(CreditService, "getCreditProgram"), what: "bank A's program", owners: [...LENDER_A, "sysadmin"],
    request: () => ({ creditProgramId: A().programId }), marks: () => [A().programId],
  },
  {
    method: m(CreditService, "listCreditPrograms"), what: "bank A's program", owners: [...LENDER_A, "sysadmin"],
    request: () => ({ pageSize: 200 }), marks: () => [A().programId],
  },
  {
    method: m(CreditService, "updateCreditProgram"), what: "bank A's program", owners: LENDER_A,
    request: async (c) => ({
      creditProgramId: A().programId, expectedVersion: c.owner ? await versionOfProgram(A().programId) : 1n,
      cap: ngn(900_000_000_000n + BigInt(Math.floor(Math.random() * 1000))), reason: "matrix",
    }),
    marks: () => [A().programId],
  },
  {
    method: m(CreditService, "getCreditLine"), what: "agency A's driver's sub-line", owners: ["agencyDriverA", "agencyAdminA", ...LENDER_A, "sysadmin"],
    request: () => ({ creditLineId: A().subLineId }), marks: () => [A().subLineId],
  },
  {
    method: m(CreditService, "getCreditLine"), what: "lone driver A's line", owners: ["loneDriverA", ...LENDER_A, "sysadmin"],
    request: () => ({ creditLineId: A().loneLineId }), marks: () => [A().loneLineId],
  },
  {
    method: m(CreditService, "listCreditLines"), what: "agency A's driver's sub-line", owners: ["agencyDriverA", "agencyAdminA", ...LENDER_A, "sysadmin"],
    request: () => ({ includeSubLines: true, pageSize: 200 }), marks: () => [A().subLineId],
  },
  {
    method: m(CreditService, "updateCreditLimit"), what: "agency A's driver's sub-line", owners: ["agencyAdminA", ...LENDER_A],
    request: async (c) => ({
      creditLineId: A().subLineId, expectedVersion: c.owner ? await versionOfLine(A().subLineId) : 1n, limit: ngn(900_000n), reason: "matrix",
    }),
    marks: () => [A().subLineId],
  },
  {
    method: m(CreditService, "updateSpendingControls"), what: "agency A's driver's sub-line", owners: ["agencyAdminA", ...LENDER_A],
    request: async (c) => ({ creditLineId: A().subLineId, expectedVersion: c.owner ? await versionOfLine(A().subLineId) : 1n }),
    marks: () => [A().subLineId],
  },
  {
    method: m(CreditService, "getAvailableCredit"), what: "agency A's driver", owners: ["agencyDriverA", "agencyAdminA", ...LENDER_A, "sysadmin"],
    request: () => ({ driverId: A().agencyDriver.principal.driverId, priceMinorPerLitre: PRICE }), marks: () => [A().subLineId],
  },
  {
    method: m(CreditService, "checkAvailability"), what: "agency A's driver", owners: ["agencyDriverA", "agencyAdminA", ...LENDER_A, "sysadmin"],
    request: () => ({
      driverId: A().agencyDriver.principal.driverId, amount: ngn(1_000n), stationId: A().stationId, merchantId: A().merchantId, fuelType: FuelType.PETROL,
    }),
    expect: (r) => r.approved === true,
  },
  {
    method: m(CreditService, "listLedgerEntries"), what: "agency A's driver's sub-line", owners: ["agencyAdminA", ...LENDER_A, "sysadmin"],
    request: () => ({ creditLineId: A().subLineId }), marks: () => [A().subLineId],
  },
  {
    method: m(CreditService, "listHolds"), what: "agency A's driver's sub-line", owners: ["agencyDriverA", "agencyAdminA", ...LENDER_A, "sysadmin"],
    request: () => ({ creditLineId: A().subLineId }), marks: () => [A().subLineId, A().saleAgency],
    expect: (r) => r.holds.length > 0,
  },
  { method: m(CreditService, "verifyLedger"), what: "the whole ledger", owners: ["sysadmin"], request: () => ({}), expect: (r) => r.consistent === true },

  // ---- TransactionService
  {
    method: m(TransactionService, "generateQrCode"), what: "the caller's own QR", self: "a driver issues QR codes for themself only",
    request: () => ({ fuelType: FuelType.PETROL }), expect: (r, _q, c) => r.qrCode.driverId === c.actor.principal.driverId,
  },
  {
    method: m(TransactionService, "authorize"), what: "a sale at station A", owners: ["terminalA"],
    request: async (c) => ({
      qrPayload: c.owner ? await builder.qr("connect", A().agencyDriver) : w.pools.qrPayload,
      stationId: A().stationId, fuelType: FuelType.PETROL, requestedAmount: ngn(SALE_MINOR), terminalReference: "matrix",
    }),
    marks: () => [A().stationId],
  },
  {
    method: m(TransactionService, "settle"), what: "a sale at station A", owners: ["terminalA", "merchantAdminA"],
    request: (c) => ({ transactionId: c.owner ? take(w.pools.settle) : keep(w.pools.settle), dispensed: { case: "amount", value: ngn(SALE_MINOR - 1_000n) } }),
    expect: (r, q) => r.transaction.transactionId === q.transactionId,
  },
  {
    method: m(TransactionService, "void"), what: "a sale at station A", owners: ["terminalA", "merchantAdminA", "sysadmin"],
    request: (c) => ({ transactionId: c.owner ? take(w.pools.void) : keep(w.pools.void), reason: "matrix" }),
    expect: (r, q) => r.transaction.transactionId === q.transactionId,
  },
  {
    method: m(TransactionService, "getTransaction"), what: "agency A's driver's sale",
    owners: ["agencyDriverA", "agencyAdminA", "merchantAdminA", "terminalA", ...LENDER_A, "sysadmin"],
    request: () => ({ transactionId: A().saleAgency }), marks: () => [A().saleAgency],
  },
  {
    method: m(TransactionService, "getTransaction"), what: "lone driver A's sale", owners: ["loneDriverA", "merchantAdminA", "terminalA", ...LENDER_A, "sysadmin"],
    request: () => ({ transactionId: A().saleLone }), marks: () => [A().saleLone],
  },
  {
    method: m(TransactionService, "listTransactions"), what: "sales at station A", owners: ["agencyDriverA", "agencyAdminA", "merchantAdminA", "terminalA", ...LENDER_A, "sysadmin"],
    request: () => ({ stationId: A().stationId, pageSize: 200 }), marks: () => [A().saleAgency],
  },
  {
    method: m(TransactionService, "listTransactions"), what: "agency A's driver's sales", owners: ["agencyDriverA", "agencyAdminA", "merchantAdminA", "terminalA", ...LENDER_A, "sysadmin"],
    request: () => ({ driverId: A().agencyDriver.principal.driverId, pageSize: 200 }), marks: () => [A().saleAgency],
  },

  // ---- LoanService
  { method: m(LoanService, "listLoans"), what: "agency A's driver's loan", owners: ["agencyDriverA", "agencyAdminA", ...LENDER_A, "sysadmin"], request: () => ({ pageSize: 200 }), marks: () => [A().loanAgency] },
  {
    method: m(LoanService, "getAgingReport"), what: "bank A's open loans", owners: ["agencyAdminA", ...LENDER_A, "sysadmin"],
    request: () => ({ bankId: A().bankId }),
    expect: (r) => r.buckets.reduce((n: bigint, b: { loanCount: bigint }) => n + b.loanCount, 0n) > 0n,
    denied: (r) => r.buckets.every((b: { loanCount: bigint; outstanding: unknown[] }) => b.loanCount === 0n && b.outstanding.length === 0),
  },
  { method: m(LoanService, "getLoan"), what: "agency A's driver's loan", owners: ["agencyDriverA", "agencyAdminA", ...LENDER_A, "sysadmin"], request: () => ({ loanId: A().loanAgency }), marks: () => [A().loanAgency] },
  { method: m(LoanService, "getLoan"), what: "lone driver A's loan", owners: ["loneDriverA", ...LENDER_A, "sysadmin"], request: () => ({ loanId: A().loanLone }), marks: () => [A().loanLone] },
  {
    method: m(LoanService, "getLoanStatement"), what: "agency A's driver's loan", owners: ["agencyDriverA", "agencyAdminA", ...LENDER_A, "sysadmin"],
    request: () => ({ loanId: A().loanAgency }), marks: () => [A().loanAgency],
  },
  {
    method: m(LoanService, "repayLoan"), what: "agency A's driver's loan", owners: [...LENDER_A, "sysadmin"],
    request: () => ({ loanId: A().loanAgency, amount: ngn(1n), externalReference: `matrix-${randomUUID()}` }), marks: () => [A().loanAgency],
  },
  {
    method: m(LoanService, "createLoanProduct"), what: "the caller's bank's product", self: "a bank makes products for itself only; the request names no bank",
    request: () => ({ name: "Matrix product", currency: CCY, termDays: 14 }), expect: (r, _q, c) => r.loanProduct.bankId === c.actor.principal.bankId,
  },
  {
    method: m(LoanService, "updateLoanProduct"), what: "bank A's default product", owners: LENDER_A,
    request: async (c) => ({
      loanProductId: A().loanProductId,
      expectedVersion: c.owner ? (await w.wire.must("connect", LoanService.method.getLoanProduct, { loanProductId: A().loanProductId }, w.sysadmin.token)).loanProduct!.version : 1n,
      loanProduct: { name: "Fuel 30 (matrix)" }, updateMask: { paths: ["name"] },
    }),
    marks: () => [A().loanProductId],
  },
  { method: m(LoanService, "getLoanProduct"), what: "bank A's default product", owners: [...LENDER_A, "sysadmin"], request: () => ({ loanProductId: A().loanProductId }), marks: () => [A().loanProductId] },
  { method: m(LoanService, "listLoanProducts"), what: "bank A's default product", owners: [...LENDER_A, "sysadmin"], request: () => ({ pageSize: 200 }), marks: () => [A().loanProductId] },
  { method: m(LoanService, "runAging"), what: "every loan", owners: ["sysadmin"], request: () => ({ dryRun: true }), expect: (r) => r.loansExamined >= 0 },

  // ---- PaymentService
  {
    method: m(PaymentService, "initiatePayment"), what: "agency A's driver's loan", owners: ["agencyDriverA", "agencyAdminA"],
    request: () => ({ allocations: [{ loanId: A().loanAgency, amount: ngn(1n) }], method: PaymentMethod.CARD }), marks: () => [A().loanAgency],
  },
  {
    method: m(PaymentService, "getPayment"), what: "agency A's driver's payment", owners: ["agencyDriverA", "agencyAdminA", ...LENDER_A, "sysadmin"],
    request: () => ({ paymentId: A().paymentId }), marks: () => [A().paymentId],
  },
  {
    method: m(PaymentService, "listPayments"), what: "agency A's driver's payment", owners: ["agencyDriverA", "agencyAdminA", ...LENDER_A, "sysadmin"],
    request: () => ({ pageSize: 200 }), marks: () => [A().paymentId],
  },
  { method: m(PaymentService, "syncPendingPayments"), what: "every pending payment", owners: ["sysadmin"], request: () => ({ maxPayments: 1 }), expect: () => true },

  // ---- StationService (the directory is public: drivers find stations and prices)
  {
    method: m(StationService, "createStation"), what: "a station of merchant A", owners: ["merchantAdminA", "sysadmin"],
    request: () => ({
      merchantId: A().merchantId, name: "Matrix Station", address: { line1: "3 Marina", city: "Lagos", countryCode: "NG" },
      location: { latitude: 6.44, longitude: 3.41 }, currency: CCY, openingHours: { timeZone: "Africa/Lagos", alwaysOpen: true },
      pumps: [{ label: "1", fuelTypes: [FuelType.PETROL] }],
    }),
    marks: () => [A().merchantId],
  },
  {
    method: m(StationService, "updateStation"), what: "station A", owners: ["merchantAdminA", "sysadmin"],
    request: async (c) => ({
      stationId: A().stationId,
      expectedVersion: c.owner ? (await w.wire.must("connect", StationService.method.getStation, { stationId: A().stationId }, w.sysadmin.token)).station!.version : 1n,
      station: { name: "Tenancy Station A (renamed)" }, updateMask: { paths: ["name"] },
    }),
    marks: () => [A().stationId],
  },
  {
    method: m(StationService, "updateFuelAvailability"), what: "station A's prices", owners: ["terminalA", "merchantAdminA"],
    request: () => ({ stationId: A().stationId, updates: [{ fuelType: FuelType.PETROL, inStock: true, priceMinorPerLitre: PRICE, currency: CCY }] }),
    marks: () => [A().stationId],
  },
  { method: m(StationService, "getStation"), what: "station A", public: "the station directory: drivers find where to buy", request: () => ({ stationId: A().stationId, includeAvailability: true }), marks: () => [A().stationId] },
  { method: m(StationService, "listStations"), what: "merchant A's stations", public: "the station directory", request: () => ({ merchantId: A().merchantId }), marks: () => [A().stationId] },
  { method: m(StationService, "getAvailability"), what: "station A", public: "pump prices are posted for every buyer", request: () => ({ stationId: A().stationId }), marks: () => [A().stationId] },
  { method: m(StationService, "getPriceHistory"), what: "station A", public: "pump prices are posted for every buyer", request: () => ({ stationId: A().stationId }), expect: (r) => r.entries.length > 0 },
  {
    method: m(StationService, "searchNearby"), what: "stations near station A", public: "the station directory",
    request: () => ({ location: { latitude: 6.45, longitude: 3.4 }, radiusM: 5_000 }), marks: () => [A().stationId],
  },
  {
    method: m(StationService, "findFillUpStations"), what: "agency A's driver's fill-up search", owners: ["agencyDriverA", "sysadmin"],
    // Stations are public; what is the driver's own is what they can spend and where.
    request: () => ({ location: { latitude: 6.45, longitude: 3.4 }, radiusM: 5_000, driverId: A().agencyDriver.principal.driverId }),
    expect: (r) => r.spendable !== undefined && r.cannotBuyReason === "",
  },
  {
    method: m(StationService, "watchAvailability"), what: "station A", public: "pump prices are posted for every buyer",
    request: () => ({ target: { case: "stationId", value: A().stationId } }), marks: () => [A().stationId],
  },

  // ---- NotificationService
  ...(["sendSms", "sendEmail", "sendPush", "sendInApp"] as const).map((name): Case => ({
    method: m(NotificationService, name), what: "a message to agency A's driver", owners: ["sysadmin"],
    request: () => {
      const userId = A().agencyDriver.principal.subjectId;
      if (name === "sendSms") return { toPhone: "+2348000000001", body: "Matrix", userId };
      if (name === "sendEmail") return { toAddress: "driver@example.com", subject: "Matrix", textBody: "Matrix", userId };
      return { userId, title: "Matrix", body: "Matrix" };
    },
    expect: () => true,
  })),
  {
    method: m(NotificationService, "registerPushDevice"), what: "the caller's device", self: "a device is registered to the caller only",
    request: () => ({ platform: PushPlatform.ANDROID, deviceToken: `matrix-${randomUUID()}` }), expect: (r) => !!r.deviceId,
  },
  { method: m(NotificationService, "listNotifications"), what: "agency A's driver's inbox", owners: ["agencyDriverA"], request: () => ({ pageSize: 200 }), marks: () => [A().notificationId] },
  {
    method: m(NotificationService, "markNotificationsRead"), what: "agency A's driver's notification", owners: ["agencyDriverA"],
    request: () => ({ notificationIds: [A().notificationId] }), expect: () => true, denied: (r) => r.markedCount === 0,
  },
  {
    method: m(NotificationService, "listDeliveries"), what: "agency A's driver's deliveries", owners: ["agencyDriverA", "sysadmin"],
    request: () => ({ userId: A().agencyDriver.principal.subjectId, pageSize: 200 }), marks: () => [A().deliveryId],
  },

  // ---- After everything that needs agency A's driver KYC-verified or its sub-line open.
  {
    method: m(CreditService, "freezeCreditLine"), what: "agency A's driver's sub-line", owners: ["agencyAdminA", ...LENDER_A, "sysadmin"],
    request: async (c) => {
      if (c.owner) await activeSubLine();
      return { creditLineId: A().subLineId, expectedVersion: c.owner ? await versionOfLine(A().subLineId) : 1n, reason: "matrix" };
    },
    marks: () => [A().subLineId],
  },
  {
    method: m(CreditService, "unfreezeCreditLine"), what: "agency A's driver's sub-line", owners: ["agencyAdminA", ...LENDER_A, "sysadmin"],
    request: async (c) => {
      if (c.owner) {
        // Frozen by the caller itself: an agency may lift only its own freeze.
        await activeSubLine();
        await w.wire.must("connect", CreditService.method.freezeCreditLine, { creditLineId: A().subLineId, expectedVersion: await versionOfLine(A().subLineId), reason: "matrix" }, c.actor.token);
      }
      return { creditLineId: A().subLineId, expectedVersion: c.owner ? await versionOfLine(A().subLineId) : 1n, reason: "matrix" };
    },
    marks: () => [A().subLineId],
  },
  {
    method: m(CreditService, "closeCreditLine"), what: "a driver's sub-line under agency A's line", owners: ["agencyAdminA", ...LENDER_A],
    request: async (c) => {
      const id = c.owner ? take(w.pools.close, 0) : A().subLineId;
      return { creditLineId: id, expectedVersion: c.owner ? await versionOfLine(id) : 1n, reason: "matrix" };
    },
    expect: (r, q) => r.creditLine.creditLineId === q.creditLineId,
  },
  {
    method: m(KycService, "uploadDocument"), what: "agency A's driver's KYC", owners: ["agencyDriverA", "agencyAdminA"],
    request: () => ({ owner: driverOwner(A), documentType: DocumentType.NATIONAL_ID, content: PNG, fileName: "nin.png" }),
    marks: () => [A().agencyDriver.principal.driverId],
  },
];

/** Methods whose ids only the sign-in flows carry: every actor of the world came through them. */
const SIGN_IN: Record<string, string> = {
  "fuel.auth.v1.AuthService/VerifyOtp": "staff sign-in: the session is the caller's own",
  "fuel.auth.v1.AuthService/CustomerVerifyOtp": "driver sign-in: the session is the caller's own",
  "fuel.auth.v1.AuthService/ExchangeClientCredentials": "a machine's own credential: the token is its own",
  "fuel.kyc.v1.KycService/OnboardDriver": "a new driver's own profile and session; agency_id only asks to join (DecideAgencyMembership's row)",
};

/** The message of a Connect JSON error (the first line of its text is the body). */
const messageOf = (o: { text: string }) => (JSON.parse(o.text.split("\n")[0]!) as { message: string }).message;

const keyOf = (method: DescMethod) => `${method.parent.typeName}/${method.name}`;

/** Whether a message, or any message inside it, has a field named *_id or *_ids. */
function hasIdField(msg: DescMessage, seen = new Set<string>()): boolean {
  if (seen.has(msg.typeName)) return false;
  seen.add(msg.typeName);
  return msg.fields.some((f) => /_ids?$/.test(f.name) || (f.message !== undefined && hasIdField(f.message, seen)));
}

// ------------------------------------------------------------------------------ running

interface Tally {
  calls: number;
  ownerCalls: number;
  openCalls: number;
  denials: number;
  leaks: number;
  problems: string[];
}

const roleAdmitted = (method: DescMethod, a: Actor) => policyOf(method).anonymous || policyOf(method).roles.includes(a.principal.role);

/** Registered world strings in `text` that the request did not carry. */
function foreign(text: string, requestJson: string): string[] {
  return [...w.strings].filter((s) => text.includes(s) && !requestJson.includes(s));
}

async function runCall(c: Case, call: Call, t: Tally): Promise<void> {
  const req = await c.request(call);
  const requestJson = toJsonString(c.method.input, create(c.method.input, req as never));
  const out: Outcome = await w.wire.call(call.protocol, c.method, req as never, call.actor.token);
  t.calls++;
  const label = `${c.method.parent.name}/${c.method.name} [${c.what}] by ${call.actor.name} over ${call.protocol}`;
  const shouldSucceed = (c.public !== undefined || c.self !== undefined) ? roleAdmitted(c.method, call.actor) : call.owner;
  if (shouldSucceed) {
    if (c.public !== undefined || c.self !== undefined) t.openCalls++;
    else t.ownerCalls++;
    if (!out.ok) return void t.problems.push(`${label}: expected success, got ${Code[out.code]} ${out.reason} ${out.text.slice(0, 200)}`);
    const missing = (c.marks?.() ?? []).filter((s) => !out.text.includes(s));
    if (missing.length) t.problems.push(`${label}: the answer lacks ${missing.join(", ")}`);
    if (c.expect && !c.expect(out.message, req, call)) t.problems.push(`${label}: unexpected answer ${out.text.slice(0, 300)}`);
    c.after?.(out.message, call);
    return;
  }
  if (!out.ok) {
    if (out.code !== Code.NotFound && out.code !== Code.PermissionDenied) {
      return void t.problems.push(`${label}: expected NOT_FOUND or PERMISSION_DENIED, got ${Code[out.code]} ${out.reason} ${out.text.slice(0, 200)}`);
    }
    t.denials++;
    const leaked = foreign(out.text, requestJson);
    if (leaked.length) {
      t.leaks++;
      t.problems.push(`${label}: ${Code[out.code]} carries foreign data ${leaked.join(", ")}`);
    }
    return;
  }
  // A non-owner's success is a denial only for reads that answer with the caller's own
  // (lists, filters) and hold nothing of the owner's.
  const shown = (c.marks?.() ?? []).filter((s) => out.text.includes(s));
  if (shown.length) {
    t.leaks++;
    return void t.problems.push(`${label}: a non-owner was shown ${shown.join(", ")}`);
  }
  if (!c.marks && !c.denied) return void t.problems.push(`${label}: a non-owner's call succeeded: ${out.text.slice(0, 200)}`);
  if (c.denied && !c.denied(out.message)) return void t.problems.push(`${label}: a non-owner's call took effect: ${out.text.slice(0, 200)}`);
  t.denials++;
}

// ------------------------------------------------------------------------------ suite

test.before(async () => {
  const sys = await startTestSystem({
    env: {
      BOOTSTRAP_ADMIN_PHONE: BOOTSTRAP_PHONE,
      // Every actor makes ~200 calls within the minute the matrix takes, the SYSTEM_ADMIN
      // several hundred building the world; the per-caller budget (600 a minute by
      // default) is not what this suite is about.
      RATE_LIMIT_PER_MINUTE: "100000",
      // Agency A's driver issues a QR code for each of the ~20 sales the world needs.
      TRANSACTION_QR_PER_MINUTE: "1000",
    },
  });
  const wire = new Wire(sys.gatewayUrl);
  const sysadmin = await staffSignIn(sys, wire, "connect", "sysadmin", BOOTSTRAP_PHONE);
  builder = new WorldBuilder(sys, wire, sysadmin);
  // Family A signs in over grpc-js, family B over Connect JSON: every sign-in flow runs
  // over both protocols.
  const [fa, fb] = await Promise.all([builder.family("A", "grpc"), builder.family("B", "connect")]);
  const owners = (method: DescMethod) => CASES.filter((c) => c.method === method).reduce((n, c) => n + (c.owners?.length ?? 0), 0) * PROTOCOLS.length;
  const pools = await builder.pools(fa, {
    users: owners(AuthService.method.disableUser) + 1,
    credentials: owners(AuthService.method.revokeMachineCredential) + 1,
    subLineDrivers: (CASES.find((c) => c.what.startsWith("a sub-line under"))!.owners!.length * PROTOCOLS.length) + 1,
    rootLineDrivers: CASES.filter((c) => c.what === "a root line for a lone driver" || c.what === "a root line in bank A's program")
      .reduce((n, c) => n + c.owners!.length * PROTOCOLS.length, 0) + 1,
    membershipRequests: owners(KycService.method.decideAgencyMembership) + 1,
    settle: owners(TransactionService.method.settle) + 1,
    void: owners(TransactionService.method.void) + 1,
  });
  w = { sys, wire, sysadmin, A: fa, B: fb, pools, strings: builder.strings };
});

test.after(async () => {
  w?.wire.close();
  await w?.sys.stop();
});

test("every public RPC with an id field has a row in the matrix", () => {
  const rows = new Set([...CASES.map((c) => keyOf(c.method)), ...Object.keys(SIGN_IN)]);
  const needed = ALL_SERVICES.flatMap((s) => publicMethods(s)).filter((method) => hasIdField(method.input) || hasIdField(method.output));
  const missing = needed.map(keyOf).filter((k) => !rows.has(k));
  assert.equal(missing, [], `public RPCs with an id field and no row in CASES: ${missing.join(", ")}`);
  // And no row for a method that is not public (it would test nothing through the gateway).
  const publicKeys = new Set(ALL_SERVICES.flatMap((s) => publicMethods(s)).map(keyOf));
  assert.equal([...rows].filter((k) => !publicKeys.has(k)), []);
  assert.ok(needed.length >= 80, `only ${needed.length} methods found: the descriptor walk is broken`);
});

test("the exploit of issue 11: merchant B gets no credential for A's station, and a terminal bound to it reaches nothing", async () => {
  const { A: a, B: b, wire } = w;
  // B names its own merchant and A's station: exactly the answer for a station that does not exist.
  const foreignStation = await wire.call("connect", AuthService.method.createMachineCredential, { kind: MachineKind.POS_TERMINAL, stationId: a.stationId, merchantId: b.merchantId, label: "x" }, b.merchantAdmin.token);
  const noStation = await wire.call("connect", AuthService.method.createMachineCredential, { kind: MachineKind.POS_TERMINAL, stationId: randomUUID(), merchantId: b.merchantId, label: "x" }, b.merchantAdmin.token);
  assert.ok(!foreignStation.ok && !noStation.ok);
  if (foreignStation.ok || noStation.ok) return;
  assert.is(Code[foreignStation.code], "NotFound");
  assert.is(foreignStation.reason, "STATION_NOT_FOUND");
  assert.is(foreignStation.reason, noStation.reason);
  assert.is(messageOf(foreignStation), messageOf(noStation));

  // A stored credential bound that way (AuthService refuses to issue one; the row is written
  // directly) signs in, but its token reaches none of A's sales and cannot change A's
  // prices; neither can B's own terminal.
  const secret = newClientSecret();
  const legacy = await insertMachine(w.sys.services.auth!.deps.pool, {
    clientId: randomUUID(), secretHash: hashSecret(secret), kind: "POS_TERMINAL", stationId: a.stationId, merchantId: b.merchantId,
    bankId: null, label: "bound before the fix", createdBy: b.merchantAdmin.principal.subjectId, createTime: new Date(),
  });
  const legacyTerminal = await machineSignIn(wire, "grpc", "legacy", legacy.client_id, secret);
  assert.is(legacyTerminal.principal.stationId, a.stationId);
  const pending = await builder.authorized(a.terminal, a.agencyDriver);
  for (const terminal of [legacyTerminal, b.terminal]) {
    for (const p of PROTOCOLS) {
      const list = await wire.must(p, TransactionService.method.listTransactions, { stationId: a.stationId }, terminal.token);
      assert.is(list.transactions.length, 0, `${terminal.name} listed A's sales`);
      const all = await wire.must(p, TransactionService.method.listTransactions, {}, terminal.token);
      assert.not.ok(all.transactions.some((t) => t.stationId === a.stationId), `${terminal.name} listed A's sales`);
      for (const [method, req] of [
        [TransactionService.method.getTransaction, { transactionId: a.saleAgency }],
        [TransactionService.method.settle, { transactionId: pending, dispensed: { case: "amount", value: ngn(1_000n) } }],
        [TransactionService.method.void, { transactionId: pending, reason: "not mine" }],
        [StationService.method.updateFuelAvailability, { stationId: a.stationId, updates: [{ fuelType: FuelType.PETROL, inStock: true, priceMinorPerLitre: 1n, currency: CCY }] }],
      ] as const) {
        const out = await wire.call(p, method as DescMethod, req as never, terminal.token);
        assert.ok(!out.ok && (out.code === Code.NotFound || out.code === Code.PermissionDenied), `${terminal.name} ${method.name} over ${p}: ${out.ok ? "succeeded" : Code[out.code]}`);
      }
    }
  }
  const sale = await wire.must("connect", TransactionService.method.getTransaction, { transactionId: pending }, w.sysadmin.token);
  assert.is(sale.transaction!.status, TransactionStatus.AUTHORIZED, "the pending sale is untouched");
  const prices = await wire.must("connect", StationService.method.getAvailability, { stationId: a.stationId }, w.sysadmin.token);
  assert.is(prices.availability!.fuels.find((f) => f.fuelType === FuelType.PETROL)!.priceMinorPerLitre, PRICE, "A's price is untouched");
  // A's own terminal settles it.
  const settled = await wire.must("grpc", TransactionService.method.settle, { transactionId: pending, dispensed: { case: "amount", value: ngn(1_000n) } }, a.terminal.token);
  assert.is(settled.transaction!.transactionId, pending);
});

test("a bank or an agency cannot tell a driver with no line from a driver with someone else's", async () => {
  const { A: a, B: b, wire, pools } = w;
  const lineless = keep(pools.subLineDrivers); // an agency-A driver, verified, no line
  const withLine = a.agencyDriver.principal.driverId;
  for (const asker of [b.bankAdmin, b.bankSystem, b.agencyAdmin]) {
    for (const p of PROTOCOLS) {
      const seen = [];
      for (const driverId of [lineless, withLine]) {
        for (const [method, req] of [
          [CreditService.method.getAvailableCredit, { driverId }],
          [CreditService.method.checkAvailability, { driverId, amount: ngn(100n), stationId: a.stationId, fuelType: FuelType.PETROL }],
        ] as const) {
          const out = await wire.call(p, method as DescMethod, req as never, asker.token);
          assert.ok(!out.ok, `${asker.name} ${method.name} over ${p} answered`);
          if (!out.ok) seen.push(`${method.name}:${Code[out.code]}:${out.reason}`);
        }
      }
      assert.equal(seen.slice(0, 2), seen.slice(2), `${asker.name} over ${p}: ${seen.join(" | ")}`);
      assert.ok(seen.every((s) => s.includes(":NotFound:CREDIT_LINE_NOT_FOUND")), seen.join(" | "));
    }
  }
  // Agency B opening a sub-line for A's drivers: the one with a line and the one without
  // both read as drivers that do not exist (no ALREADY_EXISTS, no DRIVER_NOT_IN_AGENCY).
  const answers = [];
  for (const driverId of [lineless, withLine, randomUUID()]) {
    const out = await wire.call("connect", CreditService.method.createCreditLine, { owner: { case: "driverId", value: driverId }, currency: CCY, parentCreditLineId: b.agencyLineId }, b.agencyAdmin.token);
    answers.push(out.ok ? "OK" : `${Code[out.code]}:${out.reason}:${messageOf(out)}`);
  }
  assert.is(new Set(answers).size, 1, answers.join(" | "));
  assert.ok(answers[0]!.startsWith("NotFound:"), answers[0]);
});

test("a bank lists only its own risk assessments, and never another bank's id", async () => {
  const { A: a, B: b, wire } = w;
  const subject = { case: "driverId" as const, value: a.loneDriver.principal.driverId };
  const mine = await wire.must("grpc", CreditService.method.assessRisk, { subject }, b.bankSystem.token);
  assert.is(mine.assessment!.requestedByBankId, b.bankId);
  for (const p of PROTOCOLS) {
    const seenByB = await wire.must(p, CreditService.method.listRiskAssessments, { subject }, b.bankAdmin.token);
    assert.equal(seenByB.assessments.map((x) => x.riskAssessmentId), [mine.assessment!.riskAssessmentId], "B sees only what it asked for");
    const seenByA = await wire.must(p, CreditService.method.listRiskAssessments, { subject }, a.bankAdmin.token);
    const ids = seenByA.assessments.map((x) => x.riskAssessmentId);
    assert.ok(ids.includes(a.loneAssessmentId), "A sees the assessment behind its line");
    assert.not.ok(ids.includes(mine.assessment!.riskAssessmentId), "A does not see B's");
    assert.not.ok(seenByA.assessments.some((x) => x.requestedByBankId === b.bankId));
  }
});

test("the matrix: owners succeed, everyone else is denied and shown nothing", async () => {
  const t: Tally = { calls: 0, ownerCalls: 0, openCalls: 0, denials: 0, leaks: 0, problems: [] };
  const actors = everyone();
  assert.is(actors.length, 15);
  assert.is(new Set(actors.map((a) => a.name)).size, 15);
  for (const c of CASES) {
    for (const o of c.owners ?? []) assert.ok(actors.some((a) => a.name === o), `unknown owner ${o} in ${c.what}`);
  }
  // Non-owners first (their calls must change nothing), and the public rows; then owners
  // and self rows one call at a time, in the table's order.
  const denials: Array<[Case, Call]> = [];
  const later: Array<[Case, Call]> = [];
  for (const c of CASES) {
    for (const actor of actors) {
      for (const protocol of PROTOCOLS) {
        if (c.public !== undefined) denials.push([c, { actor, protocol, owner: false }]);
        else if (c.self !== undefined) {
          if (!c.callers || c.callers(actor)) later.push([c, { actor, protocol, owner: roleAdmitted(c.method, actor) }]);
        } else if (c.owners!.includes(actor.name)) later.push([c, { actor, protocol, owner: true }]);
        else denials.push([c, { actor, protocol, owner: false }]);
      }
    }
  }
  const started = performance.now();
  await bounded(denials, CONCURRENCY, async ([c, call]) => await runCall(c, call, t));
  for (const [c, call] of later) await runCall(c, call, t);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `\n  tenancy matrix: ${CASES.length} rows over ${new Set(CASES.map((c) => keyOf(c.method))).size} RPCs, ${actors.length} actors, 2 protocols: ` +
      `${t.calls} calls (${t.ownerCalls} by owners, ${t.openCalls} public or self), ${t.denials} denials, ${t.leaks} leaks, in ${seconds} s`,
  );
  if (t.problems.length) console.error(`\n  ${t.problems.length} problems:\n  ${t.problems.join("\n  ")}`);
  assert.equal(t.problems, []);
  assert.is(t.leaks, 0);
  assert.is(t.calls, t.ownerCalls + t.openCalls + t.denials);
});

test.run();
