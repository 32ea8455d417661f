// Shared set-up for the credit suites (not a suite itself): KYC-verified agencies and
// drivers created through KycService exactly as operators do, banks with a credit policy,
// and CreditService clients for each kind of caller. Banks need not exist in KycService
// (CreditService only reads the bank id from the caller's credential), so they are
// random UUIDs; agencies and drivers must exist and be KYC-verified (CreateCreditLine
// checks both through KycService).
import { randomInt, randomUUID } from "node:crypto";
import http2 from "node:http2";
import type { DescService } from "@bufbuild/protobuf";
import { suite } from "uvu";
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { FuelType, Role } from "../gen/fuel/common/v1/common_pb.js";
import { RiskCategory } from "../gen/fuel/credit/v1/credit_line_pb.js";
import { CreditService } from "../gen/fuel/credit/v1/credit_pb.js";
import { Decision, DocumentType, KycService, MembershipDecision } from "../gen/fuel/kyc/v1/kyc_pb.js";
import { SERVICE_TOKEN_HEADER } from "../platform/interceptors/authenticate.js";
import { meshInterceptor } from "../platform/mesh.js";
import { ServiceTokens } from "../platform/tokens.js";
import type { TestSystem } from "./helpers/system.js";
import { mintAccessToken, mintOnboardingToken, principal, type TokenSource } from "./helpers/tokens.js";

const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAAAASUVORK5CYII=", "base64");
const PDF = Buffer.from("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n");

export const CCY = "NGN";

/** Sets a fresh idempotency key on every call unless the caller set one. */
const autoKey: Interceptor = (next) => async (req) => {
  if (!req.header.has("idempotency-key")) req.header.set("idempotency-key", randomUUID());
  return await next(req);
};

const bearer = (token: string): Interceptor => (next) => async (req) => {
  req.header.set("authorization", `Bearer ${token}`);
  return await next(req);
};

export function clientAs<S extends DescService>(service: S, baseUrl: string, token: string): Client<S> {
  return createClient(service, createGrpcTransport({ baseUrl, interceptors: [autoKey, bearer(token)] }));
}

/**
 * CreditService as another mesh service calls it (internal methods allowed), with a
 * service token, over Connect JSON on HTTP/2.
 */
export function creditAsService(sys: TestSystem, name = "transaction"): Client<typeof CreditService> {
  return createClient(CreditService, createConnectTransport({
    baseUrl: sys.cfg.urls.credit,
    httpVersion: "2",
    useBinaryFormat: false,
    interceptors: [autoKey, meshInterceptor(new ServiceTokens(sys.cfg.meshSecret, name))],
  }));
}

export async function tokenFor(sys: TokenSource, role: Role, binding: Parameters<typeof principal>[1] = {}): Promise<string> {
  return await mintAccessToken(sys, principal(role, binding));
}

export class Fixtures {
  /** An AGENCY_ADMIN token per agency, for accepting its drivers. */
  private readonly agencyAdminTokens = new Map<string, Promise<string>>();

  private constructor(readonly sys: TokenSource, readonly adminToken: string) {}

  static async create(sys: TokenSource): Promise<Fixtures> {
    return new Fixtures(sys, await tokenFor(sys, Role.SYSTEM_ADMIN));
  }

  kycAdmin() {
    return clientAs(KycService, this.sys.cfg.urls.kyc, this.adminToken);
  }

  creditAdmin() {
    return clientAs(CreditService, this.sys.cfg.urls.credit, this.adminToken);
  }

  private async approveAll(owner: { owner: { case: "driverId" | "agencyId"; value: string } }) {
    const admin = this.kycAdmin();
    const docs = await admin.listDocuments({ owner });
    for (const d of docs.documents) await admin.verifyDocument({ documentId: d.documentId, decision: Decision.APPROVE, reason: "ok" });
  }

  async verifiedAgency(): Promise<{ agencyId: string; adminToken: string }> {
    const n = randomInt(1_000_000, 9_999_999);
    const a = await this.kycAdmin().createAgency({
      name: `Haulage ${n}`, registrationNumber: `RC-${n}`, contactEmail: `ops${n}@haulage.example`,
      contactPhone: `+23480${randomInt(10_000_000, 99_999_999)}`, address: "1 Wharf Road, Lagos", fleetSize: 10,
    });
    const agencyId = a.agency!.agencyId;
    const adminToken = await tokenFor(this.sys, Role.AGENCY_ADMIN, { agencyId });
    const kyc = clientAs(KycService, this.sys.cfg.urls.kyc, adminToken);
    const owner = { owner: { case: "agencyId" as const, value: agencyId } };
    await kyc.uploadDocument({ owner, documentType: DocumentType.BUSINESS_REGISTRATION, content: PDF, fileName: "cac.pdf" });
    await kyc.uploadDocument({ owner, documentType: DocumentType.TAX_CERTIFICATE, content: PDF, fileName: "tin.pdf" });
    await this.approveAll(owner);
    return { agencyId, adminToken };
  }

  /**
   * A driver onboarded by phone; KYC verified unless `verified` is false. With an agency,
   * the driver asks to join it and the agency's admin accepts.
   */
  async driver(agencyId = "", verified = true): Promise<{ driverId: string; token: string }> {
    const onboard = await this.onboard(agencyId);
    const driverId = onboard.driver!.driverId;
    const token = onboard.session!.accessToken;
    if (agencyId) await this.acceptIntoAgency(driverId, agencyId);
    if (verified) {
      const kyc = clientAs(KycService, this.sys.cfg.urls.kyc, token);
      const owner = { owner: { case: "driverId" as const, value: driverId } };
      await kyc.uploadDocument({ owner, documentType: DocumentType.NATIONAL_ID, content: PNG, fileName: "nin.png" });
      await kyc.uploadDocument({ owner, documentType: DocumentType.DRIVER_LICENSE, content: PNG, fileName: "licence.png" });
      await kyc.uploadDocument({ owner, documentType: DocumentType.VEHICLE_REGISTRATION, content: PDF, fileName: "papers.pdf" });
      await this.approveAll(owner);
    }
    return { driverId, token };
  }

  /** The agency's admin accepts the driver's request to join (DecideAgencyMembership). */
  async acceptIntoAgency(driverId: string, agencyId: string): Promise<void> {
    let token = this.agencyAdminTokens.get(agencyId);
    if (!token) this.agencyAdminTokens.set(agencyId, (token = tokenFor(this.sys, Role.AGENCY_ADMIN, { agencyId })));
    const kyc = clientAs(KycService, this.sys.cfg.urls.kyc, await token);
    await kyc.decideAgencyMembership({ driverId, agencyId, decision: MembershipDecision.ACCEPT });
  }

  /** Onboards a driver with random identity; a random phone that is taken (the bench seeds 1000+) is drawn again. */
  private async onboard(agencyId: string) {
    const kyc = createClient(KycService, createGrpcTransport({ baseUrl: this.sys.cfg.urls.kyc, interceptors: [autoKey] }));
    for (let attempt = 1; ; attempt++) {
      const phone = `+23481${randomInt(10_000_000, 99_999_999)}`;
      try {
        return await kyc.onboardDriver({
          onboardingToken: await mintOnboardingToken(this.sys, phone),
          fullName: "Test Driver",
          nationalId: `NIN${randomInt(10_000_000, 99_999_999)}${randomInt(100, 999)}`,
          driverLicenseNumber: `LAG-${randomInt(100_000, 999_999)}`,
          vehicle: { plateNumber: `LSD ${randomInt(100, 999)} KJ`, fuelType: FuelType.DIESEL, tankCapacityMl: 80_000n },
          agencyId,
        });
      } catch (err) {
        if (attempt >= 5 || ConnectError.from(err).code !== Code.AlreadyExists) throw err;
      }
    }
  }

  /** A bank (random id) with a policy: every category's maximum is `max`. */
  async bank(max = 1_000_000n): Promise<{ bankId: string; token: string; credit: Client<typeof CreditService> }> {
    const bankId = randomUUID();
    const token = await tokenFor(this.sys, Role.BANK_ADMIN, { bankId });
    const credit = clientAs(CreditService, this.sys.cfg.urls.credit, token);
    await credit.setCreditPolicy({
      currency: CCY,
      expectedVersion: 0n,
      categoryLimits: [RiskCategory.LOW, RiskCategory.MEDIUM, RiskCategory.HIGH].map((category) => ({ category, maxLimit: { amountMinor: max, currency: CCY } })),
    });
    return { bankId, token, credit };
  }
}

export const ngn = (amountMinor: bigint) => ({ amountMinor, currency: CCY });

/** Resolves when every caller has arrived, so concurrent requests really start together. */
export function barrier(n: number): () => Promise<void> {
  let arrived = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  return async () => {
    if (++arrived === n) release();
    await gate;
  };
}

/**
 * A raw Connect JSON call to CreditService over HTTP/2 as a mesh service, for retries with
 * one idempotency key: the body comes back exactly as sent on the wire, so replays can be
 * compared byte for byte.
 */
export async function rawServiceCall(sys: TestSystem, method: string, json: string, key: string): Promise<{ status: number; body: string; replayed: boolean }> {
  const token = await new ServiceTokens(sys.cfg.meshSecret, "transaction").token();
  const session = http2.connect(sys.cfg.urls.credit);
  try {
    return await new Promise((resolve, reject) => {
      const req = session.request({
        ":method": "POST",
        ":path": `/fuel.credit.v1.CreditService/${method}`,
        "content-type": "application/json",
        [SERVICE_TOKEN_HEADER]: token,
        "idempotency-key": key,
      });
      let status = 0;
      let replayed = false;
      const chunks: Buffer[] = [];
      req.on("response", (h) => {
        status = Number(h[":status"]);
        replayed = h["idempotent-replayed"] === "true";
      });
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => resolve({ status, body: Buffer.concat(chunks).toString("utf8"), replayed }));
      req.on("error", reject);
      req.end(json);
    });
  } finally {
    session.close();
  }
}

/**
 * A uvu suite whose failures are printed in full: uvu's own report loses an assertion's
 * message when its diff meets a bigint (protobuf messages are full of them).
 */
export function creditSuite(name: string) {
  const raw = suite(name);
  const test = (title: string, fn: () => void | Promise<void>) =>
    raw(title, async () => {
      try {
        await fn();
      } catch (err) {
        console.error(`\n✘ ${name} › ${title}:\n`, err instanceof Error ? (err.stack ?? err.message) : err);
        throw err;
      }
    });
  return Object.assign(test, { before: raw.before, after: raw.after, run: () => raw.run() });
}
