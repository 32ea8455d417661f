// Agency membership needs the agency's consent, through the gateway (Connect JSON over
// HTTP/1.1). A driver naming an agency at onboarding (or later, in UpdateDriverProfile)
// only asks to join: until an admin of that agency accepts (DecideAgencyMembership),
// Driver.agency_id stays empty and nothing keyed on membership sees the claim — the
// scorecard gives no AGENCY_MEMBER, the agency may not act for the driver (KYC uploads,
// documents, a sub-line of its credit line). The agency's admin sees the request and
// decides; another agency's admin gets NOT_FOUND and changes nothing. Existing members
// survive the migration as accepted.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { randomInt, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { runner } from "node-pg-migrate";
import { toJsonString } from "@bufbuild/protobuf";
import { Code, type Client } from "@connectrpc/connect";
import { FuelType, Role } from "../gen/fuel/common/v1/common_pb.js";
import { RiskReasonCode } from "../gen/fuel/credit/v1/risk_pb.js";
import { CreditService } from "../gen/fuel/credit/v1/credit_pb.js";
import {
  AgencyMembershipStatus,
  DecideAgencyMembershipResponseSchema,
  DocumentType,
  KycService,
  MembershipDecision,
  type Driver,
} from "../gen/fuel/kyc/v1/kyc_pb.js";
import { NotificationService } from "../gen/fuel/notification/v1/notification_pb.js";
import { migrate, migrationsDir } from "../platform/migrate.js";
import { CCY, Fixtures } from "./credit-fixtures.js";
import { connectJson } from "./helpers/clients.js";
import { expectError, idem } from "./helpers/rpc.js";
import { freshDatabase, startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, mintOnboardingToken, principal } from "./helpers/tokens.js";

type Kyc = Client<typeof KycService>;
interface Staff {
  subjectId: string;
  kyc: Kyc;
}
interface Ctx {
  sys: TestSystem;
  storageDir: string;
  fx: Fixtures;
  admin: Staff;
  agencyA: string;
  agencyB: string;
  adminA: Staff;
  adminB: Staff;
  bank: Client<typeof CreditService>;
}

const test = suite<Ctx>("kyc agency membership");
const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAAAASUVORK5CYII=", "base64");
const driverOwner = (driverId: string) => ({ owner: { case: "driverId" as const, value: driverId } });

async function staff(ctx: Ctx, role: Role, binding: Parameters<typeof principal>[1] = {}): Promise<Staff> {
  const p = principal(role, binding);
  return { subjectId: p.subjectId, kyc: connectJson(KycService, ctx.sys.gatewayUrl, await mintAccessToken(ctx.sys, p)) };
}

/** A driver signs up through the gateway, naming `agencyId` (or none). */
async function onboard(ctx: Ctx, agencyId = ""): Promise<{ driver: Driver; kyc: Kyc; token: string }> {
  const phone = `+23482${randomInt(10_000_000, 99_999_999)}`;
  const res = await connectJson(KycService, ctx.sys.gatewayUrl).onboardDriver({
    onboardingToken: await mintOnboardingToken(ctx.sys, phone),
    fullName: "Bola Adeyemi",
    nationalId: `NM${randomInt(10_000_000, 99_999_999)}`,
    driverLicenseNumber: `LAG-${randomInt(100_000, 999_999)}`,
    vehicle: { plateNumber: `EKY ${randomInt(100, 999)} AA`, fuelType: FuelType.DIESEL, tankCapacityMl: 90_000n },
    agencyId,
  }, idem());
  const token = res.session!.accessToken;
  return { driver: res.driver!, kyc: connectJson(KycService, ctx.sys.gatewayUrl, token), token };
}

async function reasonCodes(ctx: Ctx, driverId: string): Promise<RiskReasonCode[]> {
  const res = await ctx.bank.assessRisk({ subject: { case: "driverId", value: driverId } }, idem());
  return res.assessment!.reasons.map((r) => r.code);
}

const listed = async (kyc: Kyc, req: { agencyId?: string; membershipStatus?: AgencyMembershipStatus }) =>
  (await kyc.listDrivers({ pageSize: 200, ...req })).drivers.map((d) => d.driverId);

test.before(async (ctx) => {
  ctx.storageDir = await mkdtemp(join(tmpdir(), "kyc-membership-"));
  ctx.sys = await startTestSystem({ env: { STORAGE_DIR: ctx.storageDir } });
  ctx.fx = await Fixtures.create(ctx.sys);
  ctx.admin = await staff(ctx, Role.SYSTEM_ADMIN);
  const agency = async (name: string) => (await ctx.admin.kyc.createAgency({
    name, registrationNumber: `RC-${randomInt(100_000, 999_999)}`, contactEmail: "ops@fleet.example", contactPhone: "+2348020000000",
  }, idem())).agency!.agencyId;
  ctx.agencyA = await agency("Reputable Haulage");
  ctx.agencyB = await agency("Other Haulage");
  ctx.adminA = await staff(ctx, Role.AGENCY_ADMIN, { agencyId: ctx.agencyA });
  ctx.adminB = await staff(ctx, Role.AGENCY_ADMIN, { agencyId: ctx.agencyB });
  ctx.bank = connectJson(CreditService, ctx.sys.gatewayUrl, await mintAccessToken(ctx.sys, principal(Role.BANK_ADMIN, { bankId: randomUUID() })));
});

test.after(async (ctx) => {
  await ctx.sys?.stop();
  await rm(ctx.storageDir, { recursive: true, force: true });
});

test("naming an agency at onboarding asks to join: no membership, no AGENCY_MEMBER, no agency access until accepted", async (ctx) => {
  const { driver, kyc: me, token } = await onboard(ctx, ctx.agencyA);
  const driverId = driver.driverId;
  assert.is(driver.agencyId, "");
  assert.is(driver.agencyMembership?.agencyId, ctx.agencyA);
  assert.is(driver.agencyMembership?.status, AgencyMembershipStatus.PENDING);
  assert.ok(driver.agencyMembership?.requestTime);
  assert.is(driver.agencyMembership?.decidedBy, "");
  const session = await connectJson(KycService, ctx.sys.gatewayUrl, token).getDriver({ driverId });
  assert.is(session.driver!.agencyId, "", "the driver's own view");

  // Nothing keyed on membership sees the claim.
  assert.not.ok((await reasonCodes(ctx, driverId)).includes(RiskReasonCode.AGENCY_MEMBER), "scored as a member on their own say-so");
  await expectError(ctx.adminA.kyc.uploadDocument({ owner: driverOwner(driverId), documentType: DocumentType.NATIONAL_ID, content: PNG, fileName: "nin.png" }, idem()), Code.NotFound);
  await expectError(ctx.adminA.kyc.listDocuments({ owner: driverOwner(driverId) }), Code.NotFound);
  await expectError(ctx.adminA.kyc.getKycStatus({ owner: driverOwner(driverId) }), Code.NotFound);
  assert.not.ok((await listed(ctx.adminA.kyc, {})).includes(driverId), "listed among the agency's members");
  assert.not.ok((await listed(ctx.admin.kyc, { agencyId: ctx.agencyA })).includes(driverId));

  // The agency sees the request, to decide on it; the other agency sees nothing.
  const seen = (await ctx.adminA.kyc.getDriver({ driverId })).driver!;
  assert.is(seen.agencyMembership?.status, AgencyMembershipStatus.PENDING);
  assert.ok((await listed(ctx.adminA.kyc, { membershipStatus: AgencyMembershipStatus.PENDING })).includes(driverId));
  assert.ok((await listed(ctx.admin.kyc, { agencyId: ctx.agencyA, membershipStatus: AgencyMembershipStatus.PENDING })).includes(driverId));
  await expectError(ctx.adminB.kyc.getDriver({ driverId }), Code.NotFound);
  // An agency admin's list is forced to its own agency, whatever agency_id says.
  assert.not.ok((await listed(ctx.adminB.kyc, { agencyId: ctx.agencyA, membershipStatus: AgencyMembershipStatus.PENDING })).includes(driverId));

  // Another agency's admin deciding: NOT_FOUND whether it names A or itself; nothing changes.
  for (const agencyId of [ctx.agencyA, ctx.agencyB]) {
    for (const decision of [MembershipDecision.ACCEPT, MembershipDecision.REJECT]) {
      const err = await expectError(ctx.adminB.kyc.decideAgencyMembership({ driverId, agencyId, decision, reason: "not ours" }, idem()), Code.NotFound);
      assert.not.ok(err.rawMessage.includes(driverId) || err.rawMessage.includes(ctx.agencyA), err.rawMessage);
    }
  }
  // ...exactly as for a driver who asked nobody.
  const lone = await onboard(ctx);
  await expectError(ctx.adminA.kyc.decideAgencyMembership({ driverId: lone.driver.driverId, agencyId: ctx.agencyA, decision: MembershipDecision.ACCEPT }, idem()), Code.NotFound);
  assert.is((await me.getDriver({ driverId })).driver!.agencyMembership?.status, AgencyMembershipStatus.PENDING);

  // A's admin accepts; a retry with the same key is the same answer, replayed.
  const key = { "idempotency-key": randomUUID() };
  const replayed: string[] = [];
  const accept = { driverId, agencyId: ctx.agencyA, decision: MembershipDecision.ACCEPT, reason: "drives our Lagos route" };
  const first = await ctx.adminA.kyc.decideAgencyMembership(accept, { headers: key });
  const again = await ctx.adminA.kyc.decideAgencyMembership(accept, { headers: key, onHeader: (h) => replayed.push(h.get("idempotent-replayed") ?? "") });
  assert.is(toJsonString(DecideAgencyMembershipResponseSchema, again), toJsonString(DecideAgencyMembershipResponseSchema, first));
  assert.equal(replayed, ["true"]);
  await expectError(ctx.adminA.kyc.decideAgencyMembership({ ...accept, reason: "changed my mind" }, { headers: key }), Code.InvalidArgument);
  const member = first.driver!;
  assert.is(member.agencyId, ctx.agencyA);
  assert.is(member.agencyMembership?.status, AgencyMembershipStatus.ACCEPTED);
  assert.is(member.agencyMembership?.decidedBy, ctx.adminA.subjectId);
  assert.is(member.agencyMembership?.reason, "drives our Lagos route");
  assert.ok(member.agencyMembership?.decideTime);
  // A decision is final: another key finds it decided.
  await expectError(ctx.admin.kyc.decideAgencyMembership({ ...accept, decision: MembershipDecision.REJECT, reason: "too late" }, idem()), Code.FailedPrecondition, { reason: "MEMBERSHIP_ALREADY_DECIDED" });

  // A member: scored as one, served by the agency, listed among its drivers.
  assert.is((await me.getDriver({ driverId })).driver!.agencyId, ctx.agencyA);
  assert.ok((await reasonCodes(ctx, driverId)).includes(RiskReasonCode.AGENCY_MEMBER));
  const up = await ctx.adminA.kyc.uploadDocument({ owner: driverOwner(driverId), documentType: DocumentType.NATIONAL_ID, content: PNG, fileName: "nin.png" }, idem());
  assert.is(up.document!.uploadedBy, ctx.adminA.subjectId);
  assert.ok((await listed(ctx.adminA.kyc, {})).includes(driverId));
  assert.not.ok((await listed(ctx.adminA.kyc, { membershipStatus: AgencyMembershipStatus.PENDING })).includes(driverId));
  // A member's request is settled: no asking elsewhere, no withdrawing.
  for (const requestedAgencyId of [ctx.agencyB, ""]) {
    await expectError(me.updateDriverProfile({ driverId, requestedAgencyId }, idem()), Code.FailedPrecondition, { reason: "ALREADY_AGENCY_MEMBER" });
  }
  assert.is((await me.getDriver({ driverId })).driver!.agencyId, ctx.agencyA);

  // The driver is told in the app.
  const inbox = connectJson(NotificationService, ctx.sys.gatewayUrl, token);
  let kinds: string[] = [];
  for (let i = 0; i < 100 && !kinds.includes("AGENCY_MEMBERSHIP_ACCEPTED"); i++) {
    kinds = (await inbox.listNotifications({})).notifications.map((n) => n.kind);
    if (!kinds.includes("AGENCY_MEMBERSHIP_ACCEPTED")) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(kinds.includes("AGENCY_MEMBERSHIP_ACCEPTED"), `notifications: ${kinds.join(", ")}`);
});

test("rejected: not a member; the driver may ask another agency later, or withdraw", async (ctx) => {
  const { driver, kyc: me } = await onboard(ctx, ctx.agencyA);
  const driverId = driver.driverId;
  const reject = { driverId, agencyId: ctx.agencyA, decision: MembershipDecision.REJECT };
  await expectError(ctx.adminA.kyc.decideAgencyMembership(reject, idem()), Code.InvalidArgument, { field: "reason" });
  const refused = (await ctx.adminA.kyc.decideAgencyMembership({ ...reject, reason: "not one of our drivers" }, idem())).driver!;
  assert.is(refused.agencyId, "");
  assert.is(refused.agencyMembership?.status, AgencyMembershipStatus.REJECTED);
  assert.is(refused.agencyMembership?.reason, "not one of our drivers");
  assert.not.ok((await reasonCodes(ctx, driverId)).includes(RiskReasonCode.AGENCY_MEMBER));
  await expectError(ctx.adminA.kyc.uploadDocument({ owner: driverOwner(driverId), documentType: DocumentType.NATIONAL_ID, content: PNG, fileName: "nin.png" }, idem()), Code.NotFound);
  assert.ok((await listed(ctx.adminA.kyc, { membershipStatus: AgencyMembershipStatus.REJECTED })).includes(driverId));
  await expectError(ctx.adminA.kyc.decideAgencyMembership({ ...reject, decision: MembershipDecision.ACCEPT }, idem()), Code.FailedPrecondition, { reason: "MEMBERSHIP_ALREADY_DECIDED" });

  // Asking B replaces the answered request: A no longer sees or decides it.
  await expectError(me.updateDriverProfile({ driverId, requestedAgencyId: randomUUID() }, idem()), Code.NotFound, { reason: "AGENCY_NOT_FOUND" });
  await expectError(me.updateDriverProfile({ driverId, requestedAgencyId: "agency-b" }, idem()), Code.InvalidArgument, { field: "requested_agency_id" });
  const asked = (await me.updateDriverProfile({ driverId, requestedAgencyId: ctx.agencyB }, idem())).driver!;
  assert.is(asked.agencyId, "");
  assert.equal([asked.agencyMembership?.agencyId, asked.agencyMembership?.status, asked.agencyMembership?.decidedBy, asked.agencyMembership?.reason], [ctx.agencyB, AgencyMembershipStatus.PENDING, "", ""]);
  await expectError(ctx.adminA.kyc.getDriver({ driverId }), Code.NotFound);
  await expectError(ctx.adminA.kyc.decideAgencyMembership({ ...reject, decision: MembershipDecision.ACCEPT }, idem()), Code.NotFound);
  assert.ok((await listed(ctx.adminB.kyc, { membershipStatus: AgencyMembershipStatus.PENDING })).includes(driverId));

  // Withdrawn: nobody has anything to decide.
  const withdrawn = (await me.updateDriverProfile({ driverId, requestedAgencyId: "" }, idem())).driver!;
  assert.is(withdrawn.agencyMembership, undefined);
  await expectError(ctx.adminB.kyc.decideAgencyMembership({ driverId, agencyId: ctx.agencyB, decision: MembershipDecision.ACCEPT }, idem()), Code.NotFound);
  await expectError(ctx.adminB.kyc.getDriver({ driverId }), Code.NotFound);
});

test("a system admin decides for any agency; two decisions at once: exactly one wins", async (ctx) => {
  const { driver } = await onboard(ctx, ctx.agencyB);
  const byAdmin = (await ctx.admin.kyc.decideAgencyMembership({ driverId: driver.driverId, agencyId: ctx.agencyB, decision: MembershipDecision.ACCEPT }, idem())).driver!;
  assert.is(byAdmin.agencyId, ctx.agencyB);
  assert.is(byAdmin.agencyMembership?.decidedBy, ctx.admin.subjectId);

  for (let round = 0; round < 4; round++) {
    const { driver: d } = await onboard(ctx, ctx.agencyA);
    const outcomes = await Promise.allSettled([
      ctx.adminA.kyc.decideAgencyMembership({ driverId: d.driverId, agencyId: ctx.agencyA, decision: MembershipDecision.ACCEPT }, idem()),
      ctx.admin.kyc.decideAgencyMembership({ driverId: d.driverId, agencyId: ctx.agencyA, decision: MembershipDecision.REJECT, reason: "duplicate account" }, idem()),
    ]);
    const won = outcomes.filter((o) => o.status === "fulfilled");
    assert.is(won.length, 1, `round ${round}: ${outcomes.map((o) => o.status).join(", ")}`);
    const lost = outcomes.find((o) => o.status === "rejected") as PromiseRejectedResult;
    await expectError(Promise.reject(lost.reason), Code.FailedPrecondition, { reason: "MEMBERSHIP_ALREADY_DECIDED" });
    const final = (await ctx.admin.kyc.getDriver({ driverId: d.driverId })).driver!;
    const accepted = outcomes[0]!.status === "fulfilled";
    assert.is(final.agencyId, accepted ? ctx.agencyA : "");
    assert.is(final.agencyMembership?.status, accepted ? AgencyMembershipStatus.ACCEPTED : AgencyMembershipStatus.REJECTED);
  }
});

test("DecideAgencyMembership and the new filters name each bad field", async (ctx) => {
  const { driver } = await onboard(ctx, ctx.agencyA);
  const ok = { driverId: driver.driverId, agencyId: ctx.agencyA, decision: MembershipDecision.ACCEPT };
  const bad = (over: Record<string, unknown>) => ctx.adminA.kyc.decideAgencyMembership({ ...ok, ...over }, idem());
  await expectError(bad({ driverId: "d-1" }), Code.InvalidArgument, { field: "driver_id" });
  await expectError(bad({ agencyId: "" }), Code.InvalidArgument, { field: "agency_id" });
  await expectError(bad({ decision: MembershipDecision.UNSPECIFIED }), Code.InvalidArgument, { field: "decision" });
  await expectError(bad({ decision: 7 }), Code.InvalidArgument, { field: "decision" });
  await expectError(bad({ decision: MembershipDecision.REJECT, reason: "no" }), Code.InvalidArgument, { field: "reason" });
  await expectError(bad({ reason: "x".repeat(501) }), Code.InvalidArgument, { field: "reason" });
  await expectError(ctx.adminA.kyc.listDrivers({ membershipStatus: 9 as AgencyMembershipStatus }), Code.InvalidArgument, { field: "membership_status" });
  const bank = await staff(ctx, Role.BANK_ADMIN, { bankId: randomUUID() });
  await expectError(bank.kyc.decideAgencyMembership(ok, idem()), Code.PermissionDenied);
  // Nothing was decided by any of it.
  assert.is((await ctx.admin.kyc.getDriver({ driverId: driver.driverId })).driver!.agencyMembership?.status, AgencyMembershipStatus.PENDING);
});

test("credit: an agency cannot open a sub-line for a driver who only asked to join", async (ctx) => {
  const bank = await ctx.fx.bank();
  const agency = await ctx.fx.verifiedAgency();
  const root = (await bank.credit.createCreditLine({ owner: { case: "agencyId", value: agency.agencyId }, currency: CCY })).creditLine!;
  const d = await ctx.fx.driver(); // KYC verified, independent
  await connectJson(KycService, ctx.sys.gatewayUrl, d.token).updateDriverProfile({ driverId: d.driverId, requestedAgencyId: agency.agencyId }, idem());
  const sub = { owner: { case: "driverId" as const, value: d.driverId }, currency: CCY, parentCreditLineId: root.creditLineId };
  const agencyCredit = connectJson(CreditService, ctx.sys.gatewayUrl, agency.adminToken);
  await expectError(agencyCredit.createCreditLine(sub, idem()), Code.NotFound);
  const bankCredit = connectJson(CreditService, ctx.sys.gatewayUrl, bank.token);
  await expectError(bankCredit.createCreditLine(sub, idem()), Code.FailedPrecondition, { reason: "DRIVER_NOT_IN_AGENCY" });
  await ctx.fx.acceptIntoAgency(d.driverId, agency.agencyId);
  const line = (await agencyCredit.createCreditLine(sub, idem())).creditLine!;
  assert.is(line.parentCreditLineId, root.creditLineId);
});

test("migration: drivers who were members keep their agency, recorded as accepted", async () => {
  const db = await freshDatabase();
  if (!db) return void console.log("  (migration test needs DATABASE_URL)");
  const client = new pg.Client({ connectionString: db.url });
  try {
    // The KYC schema as it was before consent, with a member and an independent driver.
    await runner({
      databaseUrl: db.url, dir: migrationsDir("kyc"), direction: "up", count: 1, schema: "kyc", createSchema: true,
      migrationsSchema: "kyc", createMigrationsSchema: true, migrationsTable: "pgmigrations", log: () => undefined,
    } as Parameters<typeof runner>[0]);
    await client.connect();
    const agencyId = randomUUID();
    await client.query(`INSERT INTO kyc.agencies (agency_id, name, registration_number, contact_email, contact_phone, create_time, update_time)
      VALUES ($1, 'Old Fleet', 'RC-OLD', 'o@f.example', '+2348020000000', now(), now())`, [agencyId]);
    const seed = async (agency: string | null) => {
      const id = randomUUID();
      await client.query(`INSERT INTO kyc.drivers (driver_id, user_id, full_name, phone_index, phone_cipher, phone_masked, national_id_index,
          national_id_cipher, national_id_masked, driver_license_number, plate_number, fuel_type, tank_capacity_ml, agency_id, status, create_time, update_time)
        VALUES ($1, $2, 'Old Driver', $3, '\\x00', '+234*******001', $4, '\\x00', '****1234', 'LIC-12345', 'ABC 123', 2, 60000, $5, 'ACTIVE',
          '2024-01-02T03:04:05Z', now())`, [id, randomUUID(), randomUUID(), randomUUID(), agency]);
      return id;
    };
    const member = await seed(agencyId);
    const lone = await seed(null);
    // Later migrations run too; this one must run first on the old rows.
    assert.is((await migrate(db.url, "kyc"))[0], "002_agency_membership");
    const { rows } = await client.query(
      `SELECT driver_id, agency_id, membership_agency_id, membership_status, membership_decided_by, membership_request_time, membership_decide_time
       FROM kyc.drivers WHERE driver_id = ANY($1)`, [[member, lone]]);
    const byId = new Map(rows.map((r) => [r.driver_id, r]));
    const m = byId.get(member)!;
    assert.equal([m.agency_id, m.membership_agency_id, m.membership_status, m.membership_decided_by], [agencyId, agencyId, "ACCEPTED", "migration"]);
    assert.is(m.membership_request_time.toISOString(), "2024-01-02T03:04:05.000Z");
    const l = byId.get(lone)!;
    assert.equal([l.agency_id, l.membership_agency_id, l.membership_status], [null, null, null]);
    // The invariant holds from here on: a member is exactly an accepted request.
    const refused = await client.query(`UPDATE kyc.drivers SET agency_id = $1 WHERE driver_id = $2`, [agencyId, lone]).then(() => null, (err: { constraint?: string }) => err);
    assert.is(refused?.constraint, "drivers_member_accepted");
  } finally {
    await client.end().catch(() => undefined);
    await db.drop();
  }
});

test.run();
