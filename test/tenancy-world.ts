// The tenancy suite's world (not a suite itself): two of every kind of organisation —
// banks, merchants with a station and a terminal, agencies with a driver, lone drivers —
// and what they own (credit lines, sales, loans, a payment, documents, notifications),
// built once through the gateway by callers holding tokens from the real flows. Family A
// owns the resources the matrix aims at; family B is the neighbour that must not reach
// them. Resources a successful owner call consumes (a sale settled, a line closed, a
// credential revoked) come in pools, one per owner call and one kept for the others.
import { randomInt, randomUUID } from "node:crypto";
import { AuthService, MachineKind } from "../gen/fuel/auth/v1/auth_pb.js";
import { FuelType, Role } from "../gen/fuel/common/v1/common_pb.js";
import { RiskCategory } from "../gen/fuel/credit/v1/credit_line_pb.js";
import { CreditService } from "../gen/fuel/credit/v1/credit_pb.js";
import { Decision, DocumentType, KycService, MembershipDecision } from "../gen/fuel/kyc/v1/kyc_pb.js";
import { LoanService } from "../gen/fuel/loan/v1/loan_pb.js";
import { NotificationService } from "../gen/fuel/notification/v1/notification_pb.js";
import { PaymentMethod, PaymentService } from "../gen/fuel/payment/v1/payment_pb.js";
import { StationService } from "../gen/fuel/station/v1/station_pb.js";
import { TransactionService, TransactionStatus } from "../gen/fuel/transaction/v1/transaction_pb.js";
import { driverSignUp, machineSignIn, staffSignIn, type Actor, type Protocol, type Wire } from "./helpers/actors.js";
import { createAgency, createBank, createMerchant, stationInput } from "./helpers/orgs.js";
import type { TestSystem } from "./helpers/system.js";
import { until } from "./helpers/until.js";

export const CCY = "NGN";
export const PRICE = 70_000n;
export const SALE_MINOR = 10_000n;
export const ngn = (amountMinor: bigint) => ({ amountMinor, currency: CCY });
const LIMIT_MAX = 1_000_000n;

export const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAAAASUVORK5CYII=", "base64");
export const PDF = Buffer.from("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n");

/** A fresh random E.164 phone (OTP budgets per phone outlive a run in Redis). */
export const newPhone = () => `+23493${String(randomInt(0, 1e8)).padStart(8, "0")}`;

export interface Family {
  tag: "A" | "B";
  bankId: string;
  merchantId: string;
  agencyId: string;
  stationId: string;
  bankAdmin: Actor;
  bankSystem: Actor;
  merchantAdmin: Actor;
  terminal: Actor;
  agencyAdmin: Actor;
  agencyDriver: Actor;
  loneDriver: Actor;
  loanProductId: string;
  agencyLineId: string;
  subLineId: string;
  loneLineId: string;
  loneAssessmentId: string;
  /** The bank's credit program; the agency's line lends under it. */
  programId: string;
  /** A settled sale (with its loan) of the agency's driver and of the lone driver. */
  saleAgency: string;
  saleLone: string;
  loanAgency: string;
  loanLone: string;
  paymentId: string;
  /** One of the agency driver's KYC documents. */
  documentId: string;
  /** An in-app notification of the agency driver, and its delivery entry. */
  notificationId: string;
  deliveryId: string;
}

export interface Pools {
  /** Bank A admins a SYSTEM_ADMIN may disable. */
  users: string[];
  /** POS credentials of station A that may be revoked. */
  credentials: string[];
  /** KYC-verified drivers of agency A without a line (sub-line creation). */
  subLineDrivers: string[];
  /** KYC-verified lone drivers without a line (root-line creation). */
  rootLineDrivers: string[];
  /** Drivers whose request to join agency A awaits its decision. */
  membershipRequests: string[];
  /** Authorized, unsettled sales at station A. */
  settle: string[];
  void: string[];
  /** Lines a successful CreateCreditLine made, for CloseCreditLine. */
  close: string[];
  /** A PENDING agency-A document, for VerifyDocument by non-owners. */
  pendingDocumentId: string;
  /** A fresh QR of agency A's driver, for Authorize by non-owners. */
  qrPayload: string;
}

export interface World {
  sys: TestSystem;
  wire: Wire;
  sysadmin: Actor;
  A: Family;
  B: Family;
  pools: Pools;
  /** Every id and name the world made, for finding foreign data where none may be. */
  strings: Set<string>;
}

/** Runs `fn` over `items`, at most `limit` at a time. */
export async function bounded<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

export class WorldBuilder {
  readonly strings = new Set<string>();
  constructor(readonly sys: TestSystem, readonly wire: Wire, readonly sysadmin: Actor) {
    this.keep(sysadmin.principal.subjectId);
  }

  private get url() {
    return this.sys.gatewayUrl;
  }

  keep(...values: string[]): void {
    for (const v of values) if (v) this.strings.add(v);
  }

  /** A staff user created by the SYSTEM_ADMIN and signed in with the OTP from its SMS. */
  async staff(p: Protocol, name: string, role: Role, organizationId: string): Promise<Actor> {
    const phone = newPhone();
    await this.wire.must("connect", AuthService.method.createUser, { phone, displayName: `Staff ${name}`, role, organizationId }, this.sysadmin.token);
    const a = await staffSignIn(this.sys, this.wire, p, name, phone);
    this.keep(a.principal.subjectId, `Staff ${name}`, phone);
    return a;
  }

  /** A machine credential issued by `issuer`, exchanged for a token. */
  async machine(p: Protocol, name: string, issuer: Actor, req: { kind: MachineKind; stationId?: string; merchantId?: string; bankId?: string }): Promise<Actor> {
    const cred = await this.wire.must(p, AuthService.method.createMachineCredential, { ...req, label: name }, issuer.token);
    const a = await machineSignIn(this.wire, p, name, cred.credential!.clientId, cred.clientSecret);
    this.keep(a.principal.subjectId);
    return a;
  }

  /** Approves every PENDING document of an owner, as the SYSTEM_ADMIN. */
  async approveAll(owner: { case: "driverId" | "agencyId"; value: string }): Promise<string[]> {
    const docs = await this.wire.must("connect", KycService.method.listDocuments, { owner: { owner } }, this.sysadmin.token);
    for (const d of docs.documents) {
      await this.wire.must("connect", KycService.method.verifyDocument, { documentId: d.documentId, decision: Decision.APPROVE }, this.sysadmin.token);
    }
    const ids = docs.documents.map((d) => d.documentId);
    this.keep(...ids);
    return ids;
  }

  /**
   * A driver signed up through the app flow, KYC documents uploaded by themself and
   * approved; with an agency, the driver asks to join it and the agency's admin accepts.
   */
  async verifiedDriver(p: Protocol, name: string, agency?: { agencyId: string; admin: Actor }): Promise<{ actor: Actor; documentIds: string[] }> {
    const actor = await driverSignUp(this.sys, this.wire, p, name, newPhone(), agency?.agencyId);
    if (agency) {
      await this.wire.must(p, KycService.method.decideAgencyMembership, {
        driverId: actor.principal.driverId, agencyId: agency.agencyId, decision: MembershipDecision.ACCEPT,
      }, agency.admin.token);
    }
    const owner = { case: "driverId" as const, value: actor.principal.driverId };
    for (const [documentType, content] of [[DocumentType.NATIONAL_ID, PNG], [DocumentType.DRIVER_LICENSE, PNG], [DocumentType.VEHICLE_REGISTRATION, PDF]] as const) {
      await this.wire.must(p, KycService.method.uploadDocument, { owner: { owner }, documentType, content, fileName: "doc" }, actor.token);
    }
    const documentIds = await this.approveAll(owner);
    this.keep(actor.principal.subjectId, actor.principal.driverId, `Driver ${name}`, actor.phone ?? "");
    return { actor, documentIds };
  }

  async agencyDocument(p: Protocol, agencyAdmin: Actor, agencyId: string, documentType = DocumentType.BUSINESS_REGISTRATION): Promise<string> {
    const res = await this.wire.must(p, KycService.method.uploadDocument, { owner: { owner: { case: "agencyId", value: agencyId } }, documentType, content: PDF, fileName: "cac.pdf" }, agencyAdmin.token);
    this.keep(res.document!.documentId);
    return res.document!.documentId;
  }

  async qr(p: Protocol, driver: Actor): Promise<string> {
    return (await this.wire.must(p, TransactionService.method.generateQrCode, { fuelType: FuelType.PETROL }, driver.token)).qrCode!.payload;
  }

  /** An authorized sale of `driver` at the terminal's station. */
  async authorized(terminal: Actor, driver: Actor): Promise<string> {
    const res = await this.wire.must("grpc", TransactionService.method.authorize, {
      qrPayload: await this.qr("connect", driver),
      stationId: terminal.principal.stationId,
      fuelType: FuelType.PETROL,
      requestedAmount: ngn(SALE_MINOR),
      terminalReference: `T-${randomUUID().slice(0, 8)}`,
    }, terminal.token);
    if (res.transaction!.status !== TransactionStatus.AUTHORIZED) throw new Error(`sale not authorized: decline ${res.transaction!.declineReason}`);
    this.keep(res.transaction!.transactionId, res.transaction!.holdId);
    return res.transaction!.transactionId;
  }

  /** A sale authorized and settled, and the loan it became. */
  async settledSale(terminal: Actor, driver: Actor): Promise<{ transactionId: string; loanId: string }> {
    const transactionId = await this.authorized(terminal, driver);
    await this.wire.must("grpc", TransactionService.method.settle, { transactionId, dispensed: { case: "amount", value: ngn(SALE_MINOR - 2_000n) } }, terminal.token);
    // The loan is made in the settlement's last step; wait for it should that step finish late.
    const loanId = await until(`the loan of ${transactionId}`, async () => {
      const t = await this.wire.must("connect", TransactionService.method.getTransaction, { transactionId }, this.sysadmin.token);
      return t.transaction!.loanId || undefined;
    });
    this.keep(loanId);
    return { transactionId, loanId };
  }

  async family(tag: "A" | "B", p: Protocol): Promise<Family> {
    const root = this.sysadmin.token;
    const [bankId, merchantId, agencyId] = await Promise.all([
      createBank(this.url, root, `Tenancy Bank ${tag}`),
      createMerchant(this.url, root, `Tenancy Fuels ${tag}`),
      createAgency(this.url, root, `Tenancy Haulage ${tag}`),
    ]);
    this.keep(bankId, merchantId, agencyId, `Tenancy Bank ${tag}`, `Tenancy Fuels ${tag}`, `Tenancy Haulage ${tag}`);
    const [bankAdmin, merchantAdmin, agencyAdmin] = await Promise.all([
      this.staff(p, `bankAdmin${tag}`, Role.BANK_ADMIN, bankId),
      this.staff(p, `merchantAdmin${tag}`, Role.MERCHANT_ADMIN, merchantId),
      this.staff(p, `agencyAdmin${tag}`, Role.AGENCY_ADMIN, agencyId),
    ]);
    const station = await this.wire.must(p, StationService.method.createStation, stationInput({
      merchantId,
      name: `Tenancy Station ${tag}`,
      location: tag === "A" ? { latitude: 6.45, longitude: 3.4 } : { latitude: 9.05, longitude: 7.49 },
    }), merchantAdmin.token);
    const stationId = station.station!.stationId;
    this.keep(stationId, `Tenancy Station ${tag}`, ...station.station!.pumps.map((x) => x.pumpId));
    const [bankSystem, terminal] = await Promise.all([
      this.machine(p, `bankSystem${tag}`, bankAdmin, { kind: MachineKind.BANK_SYSTEM, bankId }),
      this.machine(p, `terminal${tag}`, merchantAdmin, { kind: MachineKind.POS_TERMINAL, stationId, merchantId }),
    ]);
    await this.wire.must("grpc", StationService.method.updateFuelAvailability, {
      stationId, updates: [{ fuelType: FuelType.PETROL, inStock: true, priceMinorPerLitre: PRICE, currency: CCY }],
    }, terminal.token);

    // The agency's own KYC, then its driver and a lone driver.
    await this.agencyDocument(p, agencyAdmin, agencyId, DocumentType.BUSINESS_REGISTRATION);
    await this.agencyDocument(p, agencyAdmin, agencyId, DocumentType.TAX_CERTIFICATE);
    await this.approveAll({ case: "agencyId", value: agencyId });
    const [agencyDriver, loneDriver] = await Promise.all([
      this.verifiedDriver(p, `agencyDriver${tag}`, { agencyId, admin: agencyAdmin }),
      this.verifiedDriver(p, `loneDriver${tag}`),
    ]);

    // The bank lends: a policy, a default loan product, root lines; the agency a sub-line.
    await this.wire.must(p, CreditService.method.setCreditPolicy, {
      currency: CCY, expectedVersion: 0n,
      categoryLimits: [RiskCategory.LOW, RiskCategory.MEDIUM, RiskCategory.HIGH].map((category) => ({ category, maxLimit: ngn(LIMIT_MAX) })),
    }, bankAdmin.token);
    const product = await this.wire.must(p, LoanService.method.createLoanProduct, { name: `Fuel 30 ${tag}`, currency: CCY, termDays: 30, feeBps: 100, isDefault: true }, bankAdmin.token);
    const program = await this.wire.must(p, CreditService.method.createCreditProgram, { name: `Program ${tag}`, cap: ngn(LIMIT_MAX * 10n) }, bankAdmin.token);
    const programId = program.creditProgram!.creditProgramId;
    this.keep(programId);
    const agencyLine = await this.wire.must(p, CreditService.method.createCreditLine, { owner: { case: "agencyId", value: agencyId }, currency: CCY, creditProgramId: programId }, bankAdmin.token);
    const loneLine = await this.wire.must(p, CreditService.method.createCreditLine, { owner: { case: "driverId", value: loneDriver.actor.principal.driverId }, currency: CCY }, bankAdmin.token);
    const subLine = await this.wire.must(p, CreditService.method.createCreditLine, {
      owner: { case: "driverId", value: agencyDriver.actor.principal.driverId }, currency: CCY, parentCreditLineId: agencyLine.creditLine!.creditLineId,
    }, agencyAdmin.token);
    this.keep(product.loanProduct!.loanProductId, agencyLine.creditLine!.creditLineId, loneLine.creditLine!.creditLineId, subLine.creditLine!.creditLineId);
    this.keep(agencyLine.assessment?.riskAssessmentId ?? "", loneLine.assessment?.riskAssessmentId ?? "");

    // Sales, their loans, a payment, a notification.
    const saleA = await this.settledSale(terminal, agencyDriver.actor);
    const saleL = await this.settledSale(terminal, loneDriver.actor);
    const payment = await this.wire.must(p, PaymentService.method.initiatePayment, { allocations: [{ loanId: saleA.loanId, amount: ngn(1n) }], method: PaymentMethod.CARD }, agencyDriver.actor.token);
    this.keep(payment.payment!.paymentId, payment.payment!.gatewayPaymentId);
    const note = await this.wire.must("connect", NotificationService.method.sendInApp, {
      userId: agencyDriver.actor.principal.subjectId, title: `For ${tag}`, body: "Your fuel card is ready.", kind: "GENERAL",
    }, root);
    const notificationId = note.notification!.notificationId;
    const deliveryId = await until(`a delivery to agencyDriver${tag}`, async () => {
      const d = await this.wire.must("connect", NotificationService.method.listDeliveries, { userId: agencyDriver.actor.principal.subjectId }, root);
      return d.deliveries[0]?.deliveryId;
    });
    this.keep(notificationId, deliveryId);

    return {
      tag, bankId, merchantId, agencyId, stationId, bankAdmin, bankSystem, merchantAdmin, terminal, agencyAdmin,
      agencyDriver: agencyDriver.actor, loneDriver: loneDriver.actor,
      loanProductId: product.loanProduct!.loanProductId,
      agencyLineId: agencyLine.creditLine!.creditLineId,
      subLineId: subLine.creditLine!.creditLineId,
      loneLineId: loneLine.creditLine!.creditLineId,
      loneAssessmentId: loneLine.assessment?.riskAssessmentId ?? "",
      programId,
      saleAgency: saleA.transactionId, saleLone: saleL.transactionId, loanAgency: saleA.loanId, loanLone: saleL.loanId,
      paymentId: payment.payment!.paymentId,
      documentId: agencyDriver.documentIds[0]!,
      notificationId, deliveryId,
    };
  }

  /** What owner calls consume, for family A: one per owner call, and one for everyone else. */
  async pools(A: Family, sizes: { users: number; credentials: number; subLineDrivers: number; rootLineDrivers: number; membershipRequests: number; settle: number; void: number }): Promise<Pools> {
    const users = await bounded(Array.from({ length: sizes.users }), 4, async (_x, i) => {
      const phone = newPhone();
      const res = await this.wire.must("connect", AuthService.method.createUser, { phone, displayName: `Spare ${i}`, role: Role.BANK_ADMIN, organizationId: A.bankId }, this.sysadmin.token);
      this.keep(res.user!.userId);
      return res.user!.userId;
    });
    const credentials = await bounded(Array.from({ length: sizes.credentials }), 4, async (_x, i) => {
      const res = await this.wire.must("connect", AuthService.method.createMachineCredential, {
        kind: MachineKind.POS_TERMINAL, stationId: A.stationId, merchantId: A.merchantId, label: `Spare pump ${i}`,
      }, A.merchantAdmin.token);
      this.keep(res.credential!.clientId);
      return res.credential!.clientId;
    });
    const subLineDrivers = await bounded(Array.from({ length: sizes.subLineDrivers }), 4, async (_x, i) =>
      (await this.verifiedDriver(i % 2 ? "grpc" : "connect", `spareA${i}`, { agencyId: A.agencyId, admin: A.agencyAdmin })).actor.principal.driverId);
    const rootLineDrivers = await bounded(Array.from({ length: sizes.rootLineDrivers }), 4, async (_x, i) =>
      (await this.verifiedDriver(i % 2 ? "grpc" : "connect", `spareLone${i}`)).actor.principal.driverId);
    const membershipRequests = await bounded(Array.from({ length: sizes.membershipRequests }), 4, async (_x, i) => {
      const actor = await driverSignUp(this.sys, this.wire, i % 2 ? "grpc" : "connect", `asksA${i}`, newPhone(), A.agencyId);
      this.keep(actor.principal.subjectId, actor.principal.driverId, `Driver asksA${i}`, actor.phone ?? "");
      return actor.principal.driverId;
    });
    const settle: string[] = [];
    for (let i = 0; i < sizes.settle; i++) settle.push(await this.authorized(A.terminal, A.agencyDriver));
    const voids: string[] = [];
    for (let i = 0; i < sizes.void; i++) voids.push(await this.authorized(A.terminal, A.agencyDriver));
    return {
      users, credentials, subLineDrivers, rootLineDrivers, membershipRequests, settle, void: voids, close: [],
      pendingDocumentId: await this.agencyDocument("connect", A.agencyAdmin, A.agencyId),
      qrPayload: await this.qr("connect", A.agencyDriver),
    };
  }
}
