// OnboardDriver end to end through the gateway as the mobile app calls it (anonymous,
// Connect JSON over HTTP/1.1), across the kyc → auth hop: the driver row, the DRIVER
// user and its first session; national ID encrypted at rest and masked in responses;
// uniqueness of phone and national ID; retry after a crash between the two steps; and
// INVALID_ARGUMENT naming each bad field.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { randomInt, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { Code, type Client } from "@connectrpc/connect";
import { FuelType, Role } from "../gen/fuel/common/v1/common_pb.js";
import { AgencyMembershipStatus, KycOverallStatus, KycService, ProfileStatus } from "../gen/fuel/kyc/v1/kyc_pb.js";
import { PiiCipher } from "../services/kyc/pii.js";
import type { KycContext } from "../services/kyc/context.js";
import { expectError } from "./helpers/rpc.js";
import { connectJson } from "./helpers/clients.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, mintOnboardingToken, principal } from "./helpers/tokens.js";

interface Ctx {
  sys: TestSystem;
  db: pg.Client;
  storageDir: string;
  anon: Client<typeof KycService>;
  agencyId: string;
}

const test = suite<Ctx>("kyc onboarding");
const idem = () => ({ headers: { "idempotency-key": randomUUID() } });
const newPhone = () => `+23480${String(randomInt(10_000_000, 99_999_999))}`;
const newNationalId = () => `NG${String(randomInt(10_000_000, 99_999_999))}`;

interface Req {
  onboardingToken: string;
  fullName: string;
  nationalId: string;
  driverLicenseNumber: string;
  vehicle?: { plateNumber: string; fuelType: FuelType; tankCapacityMl: bigint; makeModel: string };
  agencyId?: string;
  email: string;
}

async function request(ctx: Ctx, phone: string, over: Partial<Req> = {}): Promise<Req> {
  return {
    onboardingToken: await mintOnboardingToken(ctx.sys, phone),
    fullName: "Chinedu Okafor",
    nationalId: newNationalId(),
    driverLicenseNumber: "LAG-445566",
    vehicle: { plateNumber: "KJA 123 AB", fuelType: FuelType.DIESEL, tankCapacityMl: 120_000n, makeModel: "Isuzu NPR" },
    email: "chinedu@example.com",
    ...over,
  };
}

test.before(async (ctx) => {
  ctx.storageDir = await mkdtemp(join(tmpdir(), "kyc-onboard-"));
  ctx.sys = await startTestSystem({ env: { STORAGE_DIR: ctx.storageDir } });
  ctx.db = new pg.Client({ connectionString: ctx.sys.databaseUrl });
  await ctx.db.connect();
  ctx.anon = connectJson(KycService, ctx.sys.gatewayUrl);
  const admin = connectJson(KycService, ctx.sys.gatewayUrl, await mintAccessToken(ctx.sys, principal(Role.SYSTEM_ADMIN)));
  ctx.agencyId = (await admin.createAgency({ name: "Onboard Fleet", registrationNumber: "RC-4242", contactEmail: "f@fleet.example", contactPhone: "+2348020000000" }, idem())).agency!.agencyId;
});

test.after(async (ctx) => {
  await ctx.db?.end();
  await ctx.sys?.stop();
  await rm(ctx.storageDir, { recursive: true, force: true });
});

test("onboard: driver + DRIVER session; national ID and phone masked, encrypted at rest", async (ctx) => {
  const phone = newPhone();
  const req = await request(ctx, phone, { agencyId: ctx.agencyId });
  const res = await ctx.anon.onboardDriver(req, idem());
  const d = res.driver!;
  assert.ok(d.driverId);
  assert.is(d.status, ProfileStatus.ACTIVE);
  assert.is(d.kycStatus, KycOverallStatus.NOT_STARTED);
  // Naming an agency asks to join it; membership waits for the agency (kyc-membership.test.ts).
  assert.is(d.agencyId, "");
  assert.is(d.agencyMembership?.agencyId, ctx.agencyId);
  assert.is(d.agencyMembership?.status, AgencyMembershipStatus.PENDING);
  assert.is(d.nationalIdMasked, "*".repeat(req.nationalId.length - 4) + req.nationalId.slice(-4));
  assert.is(d.phoneMasked, phone.slice(0, 4) + "*".repeat(phone.length - 7) + phone.slice(-3));
  assert.is(d.vehicle!.tankCapacityMl, 120_000n);
  const s = res.session!;
  assert.ok(s.accessToken && s.refreshToken);
  assert.is(s.principal!.role, Role.DRIVER);
  assert.is(s.principal!.driverId, d.driverId);
  assert.is(s.principal!.agencyId, "");
  // Nor is the driver's user bound to the agency, whose admins list their users by it.
  const user = await ctx.db.query(`SELECT agency_id FROM auth.users WHERE user_id = $1`, [s.principal!.subjectId]);
  assert.is(user.rows[0].agency_id, null);
  assert.is(d.userId, s.principal!.subjectId);

  // The session works straight away: the driver reads their own profile.
  const me = connectJson(KycService, ctx.sys.gatewayUrl, s.accessToken);
  assert.is((await me.getDriver({ driverId: d.driverId })).driver!.fullName, "Chinedu Okafor");

  // Nothing in the row holds the national ID or the phone in plain text.
  const { rows } = await ctx.db.query(`SELECT * FROM kyc.drivers WHERE driver_id = $1`, [d.driverId]);
  const dump = JSON.stringify(rows[0], (_k, v) => (typeof v === "bigint" ? String(v) : v && v.type === "Buffer" ? Buffer.from(v.data).toString("latin1") : v));
  assert.not.ok(dump.includes(req.nationalId));
  assert.not.ok(dump.includes(phone.slice(1)));
  assert.is(rows[0].status, "ACTIVE");
});

test("onboard: phone and national ID are unique", async (ctx) => {
  const phone = newPhone();
  const first = await request(ctx, phone);
  await ctx.anon.onboardDriver(first, idem());
  await expectError(ctx.anon.onboardDriver(await request(ctx, phone), idem()), Code.AlreadyExists, { reason: "PHONE_ALREADY_REGISTERED" });
  // Same national ID written differently (lower case, dashes) is the same ID.
  const sameId = first.nationalId.toLowerCase().replace(/^(..)/, "$1-");
  await expectError(ctx.anon.onboardDriver(await request(ctx, newPhone(), { nationalId: sameId }), idem()), Code.AlreadyExists, { reason: "NATIONAL_ID_ALREADY_REGISTERED" });
});

test("onboard: a retry after a crash before the user was created adopts the pending driver row", async (ctx) => {
  const phone = newPhone();
  const pii = new PiiCipher((ctx.sys.services.kyc!.deps as KycContext).settings.piiEncryptionKey);
  const pendingId = randomUUID();
  // What a first attempt leaves behind when it dies right after writing the driver row.
  await ctx.db.query(
    `INSERT INTO kyc.drivers (driver_id, full_name, phone_index, phone_cipher, phone_masked, national_id_index,
       national_id_cipher, national_id_masked, driver_license_number, plate_number, fuel_type, tank_capacity_ml,
       status, create_time, update_time)
     VALUES ($1, 'Old Name', $2, $3, 'x', $4, '\\x00', 'x', 'LIC-00000', 'OLD 1', 1, 50000, 'PENDING_USER', now(), now())`,
    [pendingId, pii.blindIndex("phone", phone), pii.encrypt(phone, `kyc.drivers.phone:${pendingId}`), randomUUID()],
  );
  const req = await request(ctx, phone);
  const res = await ctx.anon.onboardDriver(req, idem());
  assert.is(res.driver!.driverId, pendingId);
  assert.is(res.driver!.fullName, "Chinedu Okafor"); // refreshed with the retry's request
  assert.is(res.session!.principal!.driverId, pendingId);
  const { rows } = await ctx.db.query(`SELECT status, user_id FROM kyc.drivers WHERE driver_id = $1`, [pendingId]);
  assert.is(rows[0].status, "ACTIVE");
  assert.is(rows[0].user_id, res.session!.principal!.subjectId);
});

test("onboard: a retry after a crash between the driver row and the user finishes with the same driver and user", async (ctx) => {
  const phone = newPhone();
  const req = await request(ctx, phone);
  const first = await ctx.anon.onboardDriver(req, idem());
  // Simulate a crash after AuthService created the user but before the row was activated.
  await ctx.db.query(`UPDATE kyc.drivers SET status = 'PENDING_USER' WHERE driver_id = $1`, [first.driver!.driverId]);
  await expectError(
    connectJson(KycService, ctx.sys.gatewayUrl, first.session!.accessToken).getDriver({ driverId: first.driver!.driverId }),
    Code.NotFound,
  );
  const retry = await ctx.anon.onboardDriver(await request(ctx, phone, { nationalId: req.nationalId }), idem());
  assert.is(retry.driver!.driverId, first.driver!.driverId);
  assert.is(retry.driver!.userId, first.driver!.userId);
  assert.is(retry.driver!.status, ProfileStatus.ACTIVE);
  const { rows } = await ctx.db.query(`SELECT count(*)::int AS n FROM auth.users WHERE driver_id = $1`, [first.driver!.driverId]);
  assert.is(rows[0].n, 1);
});

test("onboard: invalid or missing onboarding token → UNAUTHENTICATED ONBOARDING_TOKEN_INVALID", async (ctx) => {
  const req = await request(ctx, newPhone());
  await expectError(ctx.anon.onboardDriver({ ...req, onboardingToken: "" }, idem()), Code.Unauthenticated, { reason: "ONBOARDING_TOKEN_INVALID" });
  await expectError(ctx.anon.onboardDriver({ ...req, onboardingToken: "eyJhbGciOiJub25lIn0.e30." }, idem()), Code.Unauthenticated, { reason: "ONBOARDING_TOKEN_INVALID" });
  // An access token is not an onboarding token.
  const access = await mintAccessToken(ctx.sys, principal(Role.DRIVER, { driverId: randomUUID() }));
  await expectError(ctx.anon.onboardDriver({ ...req, onboardingToken: access }, idem()), Code.Unauthenticated, { reason: "ONBOARDING_TOKEN_INVALID" });
});

test("onboard: bad input names each field; unknown agency → NOT_FOUND", async (ctx) => {
  const phone = newPhone();
  const base = await request(ctx, phone);
  const v = base.vehicle!;
  const cases: [Partial<Req>, string][] = [
    [{ fullName: "X" }, "full_name"],
    [{ nationalId: "12" }, "national_id"],
    [{ nationalId: "AB12345<script>" }, "national_id"],
    [{ driverLicenseNumber: "" }, "driver_license_number"],
    [{ vehicle: undefined }, "vehicle"],
    [{ vehicle: { ...v, plateNumber: "" } }, "vehicle.plate_number"],
    [{ vehicle: { ...v, fuelType: FuelType.UNSPECIFIED } }, "vehicle.fuel_type"],
    [{ vehicle: { ...v, tankCapacityMl: 0n } }, "vehicle.tank_capacity_ml"],
    [{ vehicle: { ...v, tankCapacityMl: 2_000_001n } }, "vehicle.tank_capacity_ml"],
    [{ email: "no-at-sign" }, "email"],
    [{ agencyId: "agency-1" }, "agency_id"],
  ];
  for (const [over, field] of cases) {
    await expectError(ctx.anon.onboardDriver({ ...base, ...over }, idem()), Code.InvalidArgument, { field });
  }
  await expectError(ctx.anon.onboardDriver({ ...base, agencyId: randomUUID() }, idem()), Code.NotFound);
  // None of the failures left a driver behind: the phone is still free.
  const ok = await ctx.anon.onboardDriver({ ...base }, idem());
  assert.ok(ok.driver!.driverId);
});

test.run();
