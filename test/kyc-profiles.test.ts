// KycService profiles through the gateway (Connect JSON over HTTP/1.1): agencies, banks
// and merchants (admin-created, unique numbers, keyset pages, object-level reads), and
// drivers (a driver sees only themself, an agency admin the agency's drivers). Every
// method answers bad input with INVALID_ARGUMENT naming the field.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { Code, type Client } from "@connectrpc/connect";
import { FuelType, Role } from "../gen/fuel/common/v1/common_pb.js";
import { KycOverallStatus, KycService, ProfileStatus } from "../gen/fuel/kyc/v1/kyc_pb.js";
import { expectError } from "./helpers/rpc.js";
import { connectJson, GrpcJsClient } from "./helpers/clients.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";

type Kyc = Client<typeof KycService>;
interface Ctx {
  sys: TestSystem;
  db: pg.Client;
  storageDir: string;
  as: (role: Role, binding?: Parameters<typeof principal>[1]) => Promise<Kyc>;
  admin: Kyc;
}

const test = suite<Ctx>("kyc profiles");
const idem = () => ({ headers: { "idempotency-key": randomUUID() } });

/**
 * Drivers are created by OnboardDriver (kyc-onboard.test.ts); here they are seeded
 * directly, with an agency as its accepted members.
 */
async function seedDriver(db: pg.Client, agencyId: string | null) {
  const driverId = randomUUID();
  const userId = randomUUID();
  await db.query(
    `INSERT INTO kyc.drivers (driver_id, user_id, full_name, phone_index, phone_cipher, phone_masked, national_id_index,
       national_id_cipher, national_id_masked, driver_license_number, plate_number, fuel_type, tank_capacity_ml, agency_id,
       membership_agency_id, membership_status, membership_request_time, membership_decided_by, membership_decide_time,
       status, create_time, update_time)
     VALUES ($1, $2, 'Seeded Driver', $3, '\\x00', '+234*******001', $4, '\\x00', '****1234', 'LIC-12345', 'ABC 123', 2, 60000, $5,
       $5, CASE WHEN $5::uuid IS NULL THEN NULL ELSE 'ACCEPTED' END, CASE WHEN $5::uuid IS NULL THEN NULL ELSE now() END,
       CASE WHEN $5::uuid IS NULL THEN NULL ELSE 'seed' END, CASE WHEN $5::uuid IS NULL THEN NULL ELSE now() END,
       'ACTIVE', now(), now())`,
    [driverId, userId, randomUUID(), randomUUID(), agencyId],
  );
  return { driverId, userId };
}

test.before(async (ctx) => {
  ctx.storageDir = await mkdtemp(join(tmpdir(), "kyc-profiles-"));
  ctx.sys = await startTestSystem({ env: { STORAGE_DIR: ctx.storageDir } });
  ctx.db = new pg.Client({ connectionString: ctx.sys.databaseUrl });
  await ctx.db.connect();
  ctx.as = async (role, binding = {}) => connectJson(KycService, ctx.sys.gatewayUrl, await mintAccessToken(ctx.sys, principal(role, binding)));
  ctx.admin = await ctx.as(Role.SYSTEM_ADMIN);
});

test.after(async (ctx) => {
  await ctx.db?.end();
  await ctx.sys?.stop();
  await rm(ctx.storageDir, { recursive: true, force: true });
});

test("a driver calling an admin method (CreateBank) → PERMISSION_DENIED, over Connect JSON and grpc-js", async (ctx) => {
  const driver = await ctx.as(Role.DRIVER, { driverId: randomUUID() });
  await expectError(driver.createBank({ name: "Rogue Bank", code: "ROGUE", currency: "NGN" }, idem()), Code.PermissionDenied);
  await expectError(driver.createAgency({ name: "Rogue", registrationNumber: "RC-9", contactEmail: "a@b.co", contactPhone: "+2348000000000" }, idem()), Code.PermissionDenied);
  await expectError(driver.listDrivers({}), Code.PermissionDenied);
  const token = await mintAccessToken(ctx.sys, principal(Role.DRIVER, { driverId: randomUUID() }));
  const grpc = new GrpcJsClient(KycService, ctx.sys.gatewayUrl, token);
  try {
    await grpc.unary(KycService.method.createBank, { name: "Rogue Bank", code: "ROGUE", currency: "NGN" }, { "idempotency-key": randomUUID() });
    assert.unreachable("CreateBank by a driver succeeded");
  } catch (err) {
    assert.is((err as { code: number }).code, 7); // PERMISSION_DENIED
  } finally {
    grpc.close();
  }
  const { rows } = await ctx.db.query(`SELECT count(*)::int AS n FROM kyc.banks WHERE code = 'ROGUE'`);
  assert.is(rows[0].n, 0);
});

test("banks: create, unique code, own-bank reads, name-ordered keyset pages", async (ctx) => {
  const names = ["Zenith", "Access", "Guaranty", "First", "Union"];
  const ids: Record<string, string> = {};
  for (const [i, name] of names.entries()) {
    const b = (await ctx.admin.createBank({ name: `${name} Bank`, code: `BNK${i}`, currency: "NGN" }, idem())).bank!;
    assert.is(b.code, `BNK${i}`);
    ids[name] = b.bankId;
  }
  await expectError(ctx.admin.createBank({ name: "Copy Bank", code: "BNK0", currency: "NGN" }, idem()), Code.AlreadyExists, { reason: "BANK_CODE_TAKEN" });
  const seen: string[] = [];
  let pageToken = "";
  do {
    const page = await ctx.admin.listBanks({ pageSize: 2, pageToken });
    assert.ok(page.banks.length <= 2);
    seen.push(...page.banks.map((b) => b.name));
    pageToken = page.nextPageToken;
  } while (pageToken);
  assert.equal(seen, [...names].sort().map((n) => `${n} Bank`));

  const zenithAdmin = await ctx.as(Role.BANK_ADMIN, { bankId: ids.Zenith });
  assert.is((await zenithAdmin.getBank({ bankId: ids.Zenith! })).bank!.name, "Zenith Bank");
  await expectError(zenithAdmin.getBank({ bankId: ids.Access! }), Code.NotFound);
  const zenithCore = await ctx.as(Role.BANK_SYSTEM, { bankId: ids.Zenith });
  assert.is((await zenithCore.getBank({ bankId: ids.Zenith! })).bank!.bankId, ids.Zenith);

  await expectError(ctx.admin.createBank({ name: "", code: "X1", currency: "NGN" }, idem()), Code.InvalidArgument, { field: "name" });
  await expectError(ctx.admin.createBank({ name: "Lower Bank", code: "lower", currency: "NGN" }, idem()), Code.InvalidArgument, { field: "code" });
  await expectError(ctx.admin.createBank({ name: "Cur Bank", code: "CUR1", currency: "naira" }, idem()), Code.InvalidArgument, { field: "currency" });
  await expectError(ctx.admin.getBank({ bankId: "1" }), Code.InvalidArgument, { field: "bank_id" });
  await expectError(ctx.admin.listBanks({ pageSize: -1 }), Code.InvalidArgument, { field: "page_size" });
  // More than the maximum is served as the maximum, as on every List method.
  assert.ok((await ctx.admin.listBanks({ pageSize: 1000 })).banks.length <= 200);
  await expectError(ctx.admin.listBanks({ pageToken: "bm90LWpzb24" }), Code.InvalidArgument, { field: "page_token" });
});

test("merchants: create, unique registration number (any case), own-merchant reads", async (ctx) => {
  const m = (await ctx.admin.createMerchant({ name: "Fuel Co", registrationNumber: "rc-555", contactEmail: "Settle@FuelCo.example" }, idem())).merchant!;
  assert.is(m.registrationNumber, "RC-555");
  assert.is(m.contactEmail, "settle@fuelco.example");
  await expectError(ctx.admin.createMerchant({ name: "Fuel Co 2", registrationNumber: "RC-555", contactEmail: "x@y.co" }, idem()), Code.AlreadyExists, { reason: "REGISTRATION_NUMBER_TAKEN" });
  const mine = await ctx.as(Role.MERCHANT_ADMIN, { merchantId: m.merchantId });
  assert.is((await mine.getMerchant({ merchantId: m.merchantId })).merchant!.name, "Fuel Co");
  const other = await ctx.as(Role.MERCHANT_ADMIN, { merchantId: randomUUID() });
  await expectError(other.getMerchant({ merchantId: m.merchantId }), Code.NotFound);
  assert.ok((await ctx.admin.listMerchants({})).merchants.some((x) => x.merchantId === m.merchantId));

  await expectError(ctx.admin.createMerchant({ name: "F", registrationNumber: "RC-1", contactEmail: "x@y.co" }, idem()), Code.InvalidArgument, { field: "name" });
  await expectError(ctx.admin.createMerchant({ name: "Fine", registrationNumber: "RC 1 ; drop", contactEmail: "x@y.co" }, idem()), Code.InvalidArgument, { field: "registration_number" });
  await expectError(ctx.admin.createMerchant({ name: "Fine", registrationNumber: "RC-1", contactEmail: "nope" }, idem()), Code.InvalidArgument, { field: "contact_email" });
  await expectError(ctx.admin.getMerchant({ merchantId: "" }), Code.InvalidArgument, { field: "merchant_id" });
  await expectError(ctx.admin.listMerchants({ pageToken: "%%%" }), Code.InvalidArgument, { field: "page_token" });
});

test("agencies: create, masked contact phone, own-agency reads and updates", async (ctx) => {
  const a = (await ctx.admin.createAgency({ name: "Haulers Ltd", registrationNumber: "RC-7001", contactEmail: "ops@haulers.example", contactPhone: "+2348031234567", address: "1 Marina, Lagos", fleetSize: 40 }, idem())).agency!;
  assert.is(a.contactPhoneMasked, "+234*******567");
  assert.is(a.kycStatus, KycOverallStatus.NOT_STARTED);
  assert.is(a.status, ProfileStatus.ACTIVE);
  await expectError(ctx.admin.createAgency({ name: "Haulers Two", registrationNumber: "rc-7001", contactEmail: "a@b.co", contactPhone: "+2348031234567" }, idem()), Code.AlreadyExists, { reason: "REGISTRATION_NUMBER_TAKEN" });

  const own = await ctx.as(Role.AGENCY_ADMIN, { agencyId: a.agencyId });
  const other = await ctx.as(Role.AGENCY_ADMIN, { agencyId: randomUUID() });
  assert.is((await own.getAgency({ agencyId: a.agencyId })).agency!.name, "Haulers Ltd");
  await expectError(other.getAgency({ agencyId: a.agencyId }), Code.NotFound);
  assert.is((await (await ctx.as(Role.BANK_ADMIN, { bankId: randomUUID() })).getAgency({ agencyId: a.agencyId })).agency!.agencyId, a.agencyId);

  const updated = (await own.updateAgencyProfile({ agencyId: a.agencyId, fleetSize: 55, address: "2 Broad St" }, idem())).agency!;
  assert.is(updated.fleetSize, 55);
  assert.is(updated.address, "2 Broad St");
  assert.is(updated.name, "Haulers Ltd"); // unset fields unchanged
  await expectError(other.updateAgencyProfile({ agencyId: a.agencyId, fleetSize: 1 }, idem()), Code.NotFound);
  assert.is((await ctx.admin.updateAgencyProfile({ agencyId: a.agencyId, name: "Haulers Group" }, idem())).agency!.name, "Haulers Group");
  assert.ok((await ctx.admin.listAgencies({ pageSize: 200 })).agencies.some((x) => x.agencyId === a.agencyId));

  const base = { name: "Good Name", registrationNumber: "RC-8001", contactEmail: "a@b.co", contactPhone: "+2348031234567" };
  await expectError(ctx.admin.createAgency({ ...base, name: " " }, idem()), Code.InvalidArgument, { field: "name" });
  await expectError(ctx.admin.createAgency({ ...base, registrationNumber: "" }, idem()), Code.InvalidArgument, { field: "registration_number" });
  await expectError(ctx.admin.createAgency({ ...base, contactEmail: "a@" }, idem()), Code.InvalidArgument, { field: "contact_email" });
  await expectError(ctx.admin.createAgency({ ...base, contactPhone: "08031234567" }, idem()), Code.InvalidArgument, { field: "contact_phone" });
  await expectError(ctx.admin.createAgency({ ...base, fleetSize: -1 }, idem()), Code.InvalidArgument, { field: "fleet_size" });
  await expectError(ctx.admin.createAgency({ ...base, address: "x".repeat(301) }, idem()), Code.InvalidArgument, { field: "address" });
  await expectError(ctx.admin.getAgency({ agencyId: "abc" }), Code.InvalidArgument, { field: "agency_id" });
  await expectError(ctx.admin.listAgencies({ pageSize: -5 }), Code.InvalidArgument, { field: "page_size" });
  await expectError(ctx.admin.updateAgencyProfile({ agencyId: "abc" }, idem()), Code.InvalidArgument, { field: "agency_id" });
  await expectError(ctx.admin.updateAgencyProfile({ agencyId: a.agencyId, contactPhone: "call me" }, idem()), Code.InvalidArgument, { field: "contact_phone" });
  await expectError(ctx.admin.updateAgencyProfile({ agencyId: a.agencyId, fleetSize: 100_001 }, idem()), Code.InvalidArgument, { field: "fleet_size" });
});

test("drivers: a driver sees only themself, an agency admin the agency's drivers, reviewers all", async (ctx) => {
  const agency = (await ctx.admin.createAgency({ name: "Fleet One", registrationNumber: "RC-9100", contactEmail: "f@one.example", contactPhone: "+2348030000000" }, idem())).agency!;
  const d1 = await seedDriver(ctx.db, agency.agencyId);
  const d2 = await seedDriver(ctx.db, agency.agencyId);
  const solo = await seedDriver(ctx.db, null);

  const me = await ctx.as(Role.DRIVER, { subjectId: d1.userId, driverId: d1.driverId, agencyId: agency.agencyId });
  const got = (await me.getDriver({ driverId: d1.driverId })).driver!;
  assert.is(got.nationalIdMasked, "****1234");
  assert.is(got.userId, d1.userId);
  assert.is(got.kycStatus, KycOverallStatus.NOT_STARTED);
  await expectError(me.getDriver({ driverId: d2.driverId }), Code.NotFound);
  await expectError(me.getDriver({ driverId: solo.driverId }), Code.NotFound);

  const agencyAdmin = await ctx.as(Role.AGENCY_ADMIN, { agencyId: agency.agencyId });
  assert.is((await agencyAdmin.getDriver({ driverId: d2.driverId })).driver!.agencyId, agency.agencyId);
  await expectError(agencyAdmin.getDriver({ driverId: solo.driverId }), Code.NotFound);
  // An agency admin's list is forced to the agency, whatever agency_id says.
  const listed = await agencyAdmin.listDrivers({ agencyId: randomUUID() });
  assert.equal(new Set(listed.drivers.map((d) => d.driverId)), new Set([d1.driverId, d2.driverId]));

  const bank = await ctx.as(Role.BANK_ADMIN, { bankId: randomUUID() });
  assert.is((await bank.getDriver({ driverId: solo.driverId })).driver!.driverId, solo.driverId);
  const byAgency = await bank.listDrivers({ agencyId: agency.agencyId });
  assert.is(byAgency.drivers.length, 2);
  // Newest first, one per page.
  const seen: string[] = [];
  let pageToken = "";
  do {
    const page = await bank.listDrivers({ pageSize: 1, pageToken });
    seen.push(...page.drivers.map((d) => d.driverId));
    pageToken = page.nextPageToken;
  } while (pageToken);
  assert.ok(seen.indexOf(solo.driverId) < seen.indexOf(d2.driverId));
  assert.ok(seen.indexOf(d2.driverId) < seen.indexOf(d1.driverId));

  await expectError(me.getDriver({ driverId: "x" }), Code.InvalidArgument, { field: "driver_id" });
  await expectError(bank.listDrivers({ agencyId: "nope" }), Code.InvalidArgument, { field: "agency_id" });
  await expectError(bank.listDrivers({ pageSize: -201 }), Code.InvalidArgument, { field: "page_size" });
  await expectError(bank.listDrivers({ pageToken: "eyJzZXEiOiJ4In0" }), Code.InvalidArgument, { field: "page_token" });
});

test("drivers: UpdateDriverProfile by the driver (own only) or a system admin; fields validated", async (ctx) => {
  const d = await seedDriver(ctx.db, null);
  const other = await seedDriver(ctx.db, null);
  const me = await ctx.as(Role.DRIVER, { subjectId: d.userId, driverId: d.driverId });
  const vehicle = { plateNumber: "lag 123 xy", fuelType: FuelType.PETROL, tankCapacityMl: 45_000n, makeModel: "Toyota Corolla" };
  const up = (await me.updateDriverProfile({ driverId: d.driverId, fullName: "Ada Obi", vehicle }, idem())).driver!;
  assert.is(up.fullName, "Ada Obi");
  assert.is(up.vehicle!.plateNumber, "LAG 123 XY");
  assert.is(up.vehicle!.tankCapacityMl, 45_000n);
  assert.is(up.driverLicenseNumber, "LIC-12345"); // unset: unchanged
  await expectError(me.updateDriverProfile({ driverId: other.driverId, fullName: "Hijack" }, idem()), Code.NotFound);
  const admin = (await ctx.admin.updateDriverProfile({ driverId: other.driverId, email: "Driver@Example.com" }, idem())).driver!;
  assert.is(admin.email, "driver@example.com");
  await expectError((await ctx.as(Role.AGENCY_ADMIN, { agencyId: randomUUID() })).updateDriverProfile({ driverId: d.driverId, fullName: "X Y" }, idem()), Code.PermissionDenied);

  const bad = (req: Record<string, unknown>) => me.updateDriverProfile({ driverId: d.driverId, ...req }, idem());
  await expectError(me.updateDriverProfile({ driverId: "me" }, idem()), Code.InvalidArgument, { field: "driver_id" });
  await expectError(bad({ fullName: "A" }), Code.InvalidArgument, { field: "full_name" });
  await expectError(bad({ email: "not-an-email" }), Code.InvalidArgument, { field: "email" });
  await expectError(bad({ driverLicenseNumber: "#1" }), Code.InvalidArgument, { field: "driver_license_number" });
  await expectError(bad({ vehicle: { ...vehicle, plateNumber: "!" } }), Code.InvalidArgument, { field: "vehicle.plate_number" });
  await expectError(bad({ vehicle: { ...vehicle, fuelType: FuelType.UNSPECIFIED } }), Code.InvalidArgument, { field: "vehicle.fuel_type" });
  await expectError(bad({ vehicle: { ...vehicle, tankCapacityMl: 999n } }), Code.InvalidArgument, { field: "vehicle.tank_capacity_ml" });
  await expectError(bad({ vehicle: { ...vehicle, tankCapacityMl: 2_000_001n } }), Code.InvalidArgument, { field: "vehicle.tank_capacity_ml" });
  await expectError(bad({ vehicle: { ...vehicle, makeModel: "x".repeat(101) } }), Code.InvalidArgument, { field: "vehicle.make_model" });
});

test("GetKycStatus: bad owner named; services and bank systems may read any owner", async (ctx) => {
  const d = await seedDriver(ctx.db, null);
  const core = await ctx.as(Role.BANK_SYSTEM, { bankId: randomUUID() });
  assert.is((await core.getKycStatus({ owner: { owner: { case: "driverId", value: d.driverId } } })).overall, KycOverallStatus.NOT_STARTED);
  await expectError(core.getKycStatus({}), Code.InvalidArgument, { field: "owner" });
  await expectError(core.getKycStatus({ owner: { owner: { case: "agencyId", value: "x" } } }), Code.InvalidArgument, { field: "owner.agency_id" });
  await expectError(core.getKycStatus({ owner: { owner: { case: "driverId", value: randomUUID() } } }), Code.NotFound);
});

test.run();
