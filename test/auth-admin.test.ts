// AuthService administration through the gateway: the configured first SYSTEM_ADMIN,
// CreateUser grant rules, org-scoped GetUser / ListUsers with keyset pagination, machine
// credentials (issue, scope, exchange over grpc-js as a POS or bank would, revoke, failure
// limits), and INVALID_ARGUMENT naming the field on every method.
import { randomUUID } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Code, ConnectError } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import pg from "pg";
import { AuthService, MachineKind } from "../gen/fuel/auth/v1/auth_pb.js";
import { Role } from "../gen/fuel/common/v1/common_pb.js";
import { RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { ensureBootstrapAdmin } from "../services/auth/bootstrap.js";
import type { AuthContext } from "../services/auth/context.js";
import { fails, idem, newPhone as phoneUnder, peerClient } from "./helpers/rpc.js";
import { connectJson, GrpcJsClient } from "./helpers/clients.js";
import { createAgency, createBank, createMerchant, createStation } from "./helpers/orgs.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";

const test = suite("auth-admin");
const BOOTSTRAP_PHONE = `+23470${String(Math.floor(Math.random() * 1e8)).padStart(8, "0")}`;
let sys: TestSystem;
let db: pg.Client;

test.before(async () => {
  // KycService and StationService answer whether the organisations and stations that
  // users and credentials are bound to exist.
  sys = await startTestSystem({ services: ["auth", "kyc", "station"], env: { BOOTSTRAP_ADMIN_PHONE: BOOTSTRAP_PHONE } });
  db = new pg.Client({ connectionString: sys.databaseUrl });
  await db.connect();
});
test.after(async () => {
  await db?.end();
  await sys?.stop();
});

/** AuthService called straight by a mesh peer that reports the end client's IP. */
const fromClientIp = (s: TestSystem, clientIp: string) => peerClient(s, AuthService, s.cfg.urls.auth, { as: "gateway-peer", clientIp });
const newPhone = () => phoneUnder("+23490");
const randomIp = () => `10.${1 + Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;

async function as(role: Role, binding: Parameters<typeof principal>[1] = {}) {
  const p = principal(role, binding);
  const token = await mintAccessToken(sys, p);
  return { p, token, auth: connectJson(AuthService, sys.gatewayUrl, token) };
}

/** Real organisations (and a merchant's station), made by an operator. */
const org = {
  root: async () => (await as(Role.SYSTEM_ADMIN)).token,
  bank: async () => createBank(sys.gatewayUrl, await org.root()),
  merchant: async () => createMerchant(sys.gatewayUrl, await org.root()),
  agency: async () => createAgency(sys.gatewayUrl, await org.root()),
  station: async (merchantId: string) => createStation(sys.gatewayUrl, await org.root(), merchantId),
};

test("the first SYSTEM_ADMIN comes from BOOTSTRAP_ADMIN_PHONE, once", async () => {
  const count = async () =>
    (await db.query(`SELECT role, active FROM auth.users WHERE phone = $1`, [BOOTSTRAP_PHONE])).rows as Array<{ role: string; active: boolean }>;
  assert.equal(await count(), [{ role: "SYSTEM_ADMIN", active: true }]);
  // A second replica starting (or a restart) changes nothing.
  await Promise.all([ensureBootstrapAdmin(sys.services.auth!.deps as AuthContext), ensureBootstrapAdmin(sys.services.auth!.deps as AuthContext)]);
  assert.is((await count()).length, 1);
});

test("CreateUser: SYSTEM_ADMIN grants any admin role; org admins only their own org", async () => {
  const bankId = await org.bank();
  const { auth: root } = await as(Role.SYSTEM_ADMIN);
  const bankAdmin = await root.createUser({ phone: newPhone(), displayName: "Bola Bank", role: Role.BANK_ADMIN, organizationId: bankId }, idem());
  assert.is(bankAdmin.user?.principal?.role, Role.BANK_ADMIN);
  assert.is(bankAdmin.user?.principal?.bankId, bankId);
  assert.match(bankAdmin.user!.phoneMasked, /^\+234\*+\d{3}$/);
  const sysAdmin = await root.createUser({ phone: newPhone(), displayName: "Second operator", role: Role.SYSTEM_ADMIN }, idem());
  assert.is(sysAdmin.user?.principal?.role, Role.SYSTEM_ADMIN);

  const { auth: bank } = await as(Role.BANK_ADMIN, { bankId });
  const colleague = await bank.createUser({ phone: newPhone(), displayName: "Colleague", role: Role.BANK_ADMIN, organizationId: bankId }, idem());
  assert.is(colleague.user?.principal?.bankId, bankId);
  await fails(bank.createUser({ phone: newPhone(), displayName: "x", role: Role.BANK_ADMIN, organizationId: randomUUID() }, idem()), Code.PermissionDenied, "ROLE_NOT_GRANTABLE");
  await fails(bank.createUser({ phone: newPhone(), displayName: "x", role: Role.AGENCY_ADMIN, organizationId: bankId }, idem()), Code.PermissionDenied, "ROLE_NOT_GRANTABLE");
  await fails(bank.createUser({ phone: newPhone(), displayName: "x", role: Role.SYSTEM_ADMIN }, idem()), Code.PermissionDenied, "ROLE_NOT_GRANTABLE");

  const agencyId = await org.agency();
  const { auth: agency } = await as(Role.AGENCY_ADMIN, { agencyId });
  await agency.createUser({ phone: newPhone(), displayName: "Agency two", role: Role.AGENCY_ADMIN, organizationId: agencyId }, idem());
  await fails(agency.createUser({ phone: newPhone(), displayName: "x", role: Role.MERCHANT_ADMIN, organizationId: agencyId }, idem()), Code.PermissionDenied, "ROLE_NOT_GRANTABLE");
  // Drivers and machines are not CreateUser's to make.
  const e = await fails(root.createUser({ phone: newPhone(), displayName: "x", role: Role.DRIVER, organizationId: agencyId }, idem()), Code.InvalidArgument);
  assert.ok(e.message.startsWith("role:"), e.message);
  await fails(root.createUser({ phone: newPhone(), displayName: "x", role: Role.POS_TERMINAL, organizationId: agencyId }, idem()), Code.InvalidArgument);
  // A driver may not call it at all.
  const { auth: driver } = await as(Role.DRIVER, { driverId: randomUUID() });
  await fails(driver.createUser({ phone: newPhone(), displayName: "x", role: Role.AGENCY_ADMIN, organizationId: agencyId }, idem()), Code.PermissionDenied);
});

test("CreateUser: the organisation must exist, and only one the caller may bind is looked up", async () => {
  const { auth: root } = await as(Role.SYSTEM_ADMIN);
  // An agency's id is no bank: each role is bound to its own kind of organisation.
  const agencyId = await org.agency();
  for (const [role, orgId] of [[Role.BANK_ADMIN, randomUUID()], [Role.MERCHANT_ADMIN, randomUUID()], [Role.AGENCY_ADMIN, randomUUID()], [Role.BANK_ADMIN, agencyId]] as const) {
    const e = await fails(root.createUser({ phone: newPhone(), displayName: "Nobody's", role, organizationId: orgId }, idem()), Code.NotFound, "ORGANIZATION_NOT_FOUND");
    assert.is(e.message, "organization not found");
  }
  // An org admin naming an organisation that is not theirs is refused before any lookup,
  // whether or not it exists: the answer tells nothing about other organisations.
  const { auth: bank } = await as(Role.BANK_ADMIN, { bankId: await org.bank() });
  const real = await fails(bank.createUser({ phone: newPhone(), displayName: "x", role: Role.BANK_ADMIN, organizationId: await org.bank() }, idem()), Code.PermissionDenied, "ROLE_NOT_GRANTABLE");
  const unknown = await fails(bank.createUser({ phone: newPhone(), displayName: "x", role: Role.BANK_ADMIN, organizationId: randomUUID() }, idem()), Code.PermissionDenied, "ROLE_NOT_GRANTABLE");
  assert.is(real.message, unknown.message);
  const { rows } = await db.query(`SELECT count(*)::int AS n FROM auth.users WHERE display_name = 'Nobody''s'`);
  assert.is(rows[0].n, 0);
});

test("CreateUser: a phone is registered once", async () => {
  const { auth: root } = await as(Role.SYSTEM_ADMIN);
  const req = { phone: newPhone(), displayName: "Once", role: Role.MERCHANT_ADMIN, organizationId: await org.merchant() };
  await root.createUser(req, idem());
  await fails(root.createUser(req, idem()), Code.AlreadyExists, "PHONE_ALREADY_REGISTERED");
  await fails(root.createUser({ ...req, phone: BOOTSTRAP_PHONE, role: Role.SYSTEM_ADMIN, organizationId: "" }, idem()), Code.AlreadyExists, "PHONE_ALREADY_REGISTERED");
});

test("GetUser / ListUsers: admins see their own organisation; pages are stable and newest first", async () => {
  const bankA = await org.bank();
  const bankB = await org.bank();
  const { auth: root } = await as(Role.SYSTEM_ADMIN);
  const created: string[] = [];
  for (let i = 0; i < 5; i++) {
    sys.clock.advance(10); // distinct create times; the keyset also breaks ties by id
    const r = await root.createUser({ phone: newPhone(), displayName: `A${i}`, role: Role.BANK_ADMIN, organizationId: bankA }, idem());
    created.push(r.user!.userId);
  }
  const inB = (await root.createUser({ phone: newPhone(), displayName: "B", role: Role.BANK_ADMIN, organizationId: bankB }, idem())).user!;

  const { auth: a } = await as(Role.BANK_ADMIN, { bankId: bankA });
  assert.is((await a.getUser({ userId: created[0]! })).user?.displayName, "A0");
  await fails(a.getUser({ userId: inB.userId }), Code.NotFound);
  await fails(a.getUser({ userId: randomUUID() }), Code.NotFound);
  assert.is((await root.getUser({ userId: inB.userId })).user?.displayName, "B");

  const seen: string[] = [];
  let pageToken = "";
  let pages = 0;
  do {
    const page = await a.listUsers({ pageSize: 2, pageToken });
    seen.push(...page.users.map((u) => u.userId));
    for (const u of page.users) assert.is(u.principal?.bankId, bankA);
    pageToken = page.nextPageToken;
    pages++;
  } while (pageToken && pages < 10);
  assert.equal(seen, [...created].reverse(), "all five, newest first, no duplicates");
  assert.is(pages, 3);

  const { auth: merchant } = await as(Role.MERCHANT_ADMIN, { merchantId: randomUUID() });
  assert.is((await merchant.listUsers({})).users.length, 0);
  const roots = await root.listUsers({ role: Role.SYSTEM_ADMIN, pageSize: 200 });
  assert.ok(roots.users.some((u) => u.phoneMasked.endsWith(BOOTSTRAP_PHONE.slice(-3))));
  assert.ok(roots.users.every((u) => u.principal?.role === Role.SYSTEM_ADMIN));
});

test("machine credentials: issued within the caller's organisation only", async () => {
  const merchantId = await org.merchant();
  const stationId = await org.station(merchantId);
  const bankId = await org.bank();
  const { auth: merchant } = await as(Role.MERCHANT_ADMIN, { merchantId });
  const { auth: bank } = await as(Role.BANK_ADMIN, { bankId });
  const pos = await merchant.createMachineCredential({ kind: MachineKind.POS_TERMINAL, stationId, merchantId, label: "Lekki pump 3" }, idem());
  assert.is(pos.credential?.active, true);
  assert.is(Buffer.from(pos.clientSecret, "base64url").length, 32);
  await fails(merchant.createMachineCredential({ kind: MachineKind.POS_TERMINAL, stationId: randomUUID(), merchantId: randomUUID(), label: "x" }, idem()), Code.PermissionDenied, "ORGANIZATION_MISMATCH");
  await fails(merchant.createMachineCredential({ kind: MachineKind.BANK_SYSTEM, bankId, label: "x" }, idem()), Code.PermissionDenied, "ORGANIZATION_MISMATCH");
  await bank.createMachineCredential({ kind: MachineKind.BANK_SYSTEM, bankId, label: "Core" }, idem());
  await fails(bank.createMachineCredential({ kind: MachineKind.BANK_SYSTEM, bankId: randomUUID(), label: "x" }, idem()), Code.PermissionDenied, "ORGANIZATION_MISMATCH");
  await fails(bank.createMachineCredential({ kind: MachineKind.POS_TERMINAL, stationId: randomUUID(), merchantId, label: "x" }, idem()), Code.PermissionDenied, "ORGANIZATION_MISMATCH");
  const { auth: agency } = await as(Role.AGENCY_ADMIN, { agencyId: randomUUID() });
  await fails(agency.createMachineCredential({ kind: MachineKind.BANK_SYSTEM, bankId, label: "x" }, idem()), Code.PermissionDenied);
  // A station must be one of the merchant's: another merchant's station answers exactly
  // as a station that does not exist (the exploit of issue 11: a terminal bound to a
  // competitor's station read and settled its sales).
  const otherMerchantsStation = await org.station(await org.merchant());
  const foreign = await fails(merchant.createMachineCredential({ kind: MachineKind.POS_TERMINAL, stationId: otherMerchantsStation, merchantId, label: "x" }, idem()), Code.NotFound, "STATION_NOT_FOUND");
  const missing = await fails(merchant.createMachineCredential({ kind: MachineKind.POS_TERMINAL, stationId: randomUUID(), merchantId, label: "x" }, idem()), Code.NotFound, "STATION_NOT_FOUND");
  assert.is(foreign.message, missing.message);
  // A SYSTEM_ADMIN too binds only what exists and fits together.
  const { auth: root } = await as(Role.SYSTEM_ADMIN);
  await fails(root.createMachineCredential({ kind: MachineKind.POS_TERMINAL, stationId: otherMerchantsStation, merchantId, label: "x" }, idem()), Code.NotFound, "STATION_NOT_FOUND");
  await fails(root.createMachineCredential({ kind: MachineKind.BANK_SYSTEM, bankId: randomUUID(), label: "x" }, idem()), Code.NotFound, "ORGANIZATION_NOT_FOUND");
  const issued = await db.query(`SELECT count(*)::int AS n FROM auth.machine_credentials WHERE label = 'x'`);
  assert.is(issued.rows[0].n, 0);
  // Stored as a hash only.
  const { rows } = await db.query(`SELECT * FROM auth.machine_credentials WHERE client_id = $1`, [pos.credential!.clientId]);
  assert.is(rows.length, 1);
  assert.not.ok(JSON.stringify(rows[0]).includes(pos.clientSecret));
});

test("a POS terminal and a bank system exchange credentials over grpc-js for scoped tokens", async () => {
  const merchantId = await org.merchant();
  const stationId = await org.station(merchantId);
  const bankId = await org.bank();
  const { auth: root } = await as(Role.SYSTEM_ADMIN);
  const pos = await root.createMachineCredential({ kind: MachineKind.POS_TERMINAL, stationId, merchantId, label: "Pump 1" }, idem());
  const core = await root.createMachineCredential({ kind: MachineKind.BANK_SYSTEM, bankId, label: "Core banking" }, idem());

  const terminal = new GrpcJsClient(AuthService, sys.gatewayUrl);
  try {
    const { message: tok } = await terminal.unary(AuthService.method.exchangeClientCredentials, { clientId: pos.credential!.clientId, clientSecret: pos.clientSecret });
    assert.is(tok.principal?.role, Role.POS_TERMINAL);
    assert.is(tok.principal?.stationId, stationId);
    assert.is(tok.principal?.merchantId, merchantId);
    const ttl = Number(tok.expiresAt!.seconds) * 1000 - sys.clock.now().getTime();
    assert.ok(ttl > 0 && ttl <= 15 * 60_000 + 1000);
    terminal.setToken(tok.accessToken);
    const { message: me } = await terminal.unary(AuthService.method.getMe, {});
    assert.is(me.principal?.role, Role.POS_TERMINAL);
    assert.is(me.principal?.stationId, stationId);
    assert.is(me.principal?.subjectId, pos.credential!.clientId);

    terminal.setToken(undefined);
    const { message: bankTok } = await terminal.unary(AuthService.method.exchangeClientCredentials, { clientId: core.credential!.clientId, clientSecret: core.clientSecret });
    assert.is(bankTok.principal?.role, Role.BANK_SYSTEM);
    assert.is(bankTok.principal?.bankId, bankId);
    assert.is(bankTok.principal?.merchantId, "");

    // Wrong secret, unknown client, someone else's secret: all the same answer.
    for (const [clientId, clientSecret] of [
      [pos.credential!.clientId, core.clientSecret],
      [randomUUID(), pos.clientSecret],
      ["not-a-client", pos.clientSecret],
    ] as const) {
      try {
        await terminal.unary(AuthService.method.exchangeClientCredentials, { clientId, clientSecret });
        assert.unreachable("bad credentials accepted");
      } catch (err) {
        if (err instanceof assert.Assertion) throw err;
        assert.is((err as grpc.ServiceError).code, grpc.status.UNAUTHENTICATED);
      }
    }
  } finally {
    terminal.close();
  }
});

test("revoked credentials stop exchanging; only their organisation may revoke them", async () => {
  const merchantId = await org.merchant();
  const { auth: merchant } = await as(Role.MERCHANT_ADMIN, { merchantId });
  const { auth: otherMerchant } = await as(Role.MERCHANT_ADMIN, { merchantId: randomUUID() });
  const pos = await merchant.createMachineCredential({ kind: MachineKind.POS_TERMINAL, stationId: await org.station(merchantId), merchantId, label: "Pump 2" }, idem());
  const anon = connectJson(AuthService, sys.gatewayUrl);
  await anon.exchangeClientCredentials({ clientId: pos.credential!.clientId, clientSecret: pos.clientSecret });
  await fails(otherMerchant.revokeMachineCredential({ clientId: pos.credential!.clientId }, idem()), Code.NotFound);
  const { auth: bank } = await as(Role.BANK_ADMIN, { bankId: randomUUID() });
  await fails(bank.revokeMachineCredential({ clientId: pos.credential!.clientId }, idem()), Code.NotFound);
  const revoked = await merchant.revokeMachineCredential({ clientId: pos.credential!.clientId }, idem());
  assert.is(revoked.credential?.active, false);
  await fails(anon.exchangeClientCredentials({ clientId: pos.credential!.clientId, clientSecret: pos.clientSecret }), Code.Unauthenticated, "CLIENT_CREDENTIALS_INVALID");
  await fails(merchant.revokeMachineCredential({ clientId: randomUUID() }, idem()), Code.NotFound);
});

test("repeated exchange failures from one IP are RESOURCE_EXHAUSTED with RetryInfo; valid credentials there still exchange", async () => {
  const { auth: root } = await as(Role.SYSTEM_ADMIN);
  const merchantId = await org.merchant();
  const pos = await root.createMachineCredential({ kind: MachineKind.POS_TERMINAL, stationId: await org.station(merchantId), merchantId, label: "Pump 9" }, idem());
  const attacker = fromClientIp(sys, randomIp());
  let failures = 0;
  for (;;) {
    try {
      await attacker.exchangeClientCredentials({ clientId: pos.credential!.clientId, clientSecret: "guess-" + failures });
    } catch (err) {
      const ce = ConnectError.from(err);
      if (ce.code === Code.ResourceExhausted) {
        assert.ok(ce.findDetails(RetryInfoSchema)[0]?.retryDelay, "RetryInfo present");
        break;
      }
      assert.is(ce.code, Code.Unauthenticated);
    }
    failures++;
    assert.ok(failures <= 50, "never limited");
  }
  assert.ok(failures >= 5, `limited after only ${failures} failures`);
  // Further failures from that address stay refused, for any client id...
  await fails(attacker.exchangeClientCredentials({ clientId: randomUUID(), clientSecret: "guess" }), Code.ResourceExhausted, "CLIENT_CREDENTIALS_RATE_LIMITED");
  // ...but a terminal behind the same address (a station shares one) with the right
  // secret is not locked out by its neighbour's failures.
  const sameAddress = await attacker.exchangeClientCredentials({ clientId: pos.credential!.clientId, clientSecret: pos.clientSecret });
  assert.is(sameAddress.principal?.role, Role.POS_TERMINAL);
  // A revoked credential is a failure like any other.
  await root.revokeMachineCredential({ clientId: pos.credential!.clientId }, idem());
  await fails(attacker.exchangeClientCredentials({ clientId: pos.credential!.clientId, clientSecret: pos.clientSecret }), Code.ResourceExhausted);
  await fails(fromClientIp(sys, randomIp()).exchangeClientCredentials({ clientId: pos.credential!.clientId, clientSecret: pos.clientSecret }), Code.Unauthenticated, "CLIENT_CREDENTIALS_INVALID");
});

test("bad input on every method is INVALID_ARGUMENT naming the field", async () => {
  const { auth: root } = await as(Role.SYSTEM_ADMIN);
  const anon = connectJson(AuthService, sys.gatewayUrl);
  const uuid = randomUUID();
  const cases: Array<[string, () => Promise<unknown>]> = [
    ["phone", () => anon.requestOtp({ phone: "08012345678" })],
    ["phone", () => anon.customerRequestOtp({ phone: "+0" })],
    ["phone", () => anon.verifyOtp({ phone: "", code: "123456" })],
    ["code", () => anon.verifyOtp({ phone: newPhone(), code: "12345" })],
    ["code", () => anon.customerVerifyOtp({ phone: newPhone(), code: "12a456" })],
    ["phone", () => anon.customerVerifyOtp({ phone: "+234 801", code: "123456" })],
    ["refresh_token", () => anon.refreshSession({ refreshToken: "" })],
    ["refresh_token", () => anon.revokeSession({ refreshToken: "" })],
    ["client_id", () => anon.exchangeClientCredentials({ clientId: "", clientSecret: "x" })],
    ["client_secret", () => anon.exchangeClientCredentials({ clientId: uuid, clientSecret: "" })],
    ["phone", () => root.createUser({ phone: "123", displayName: "x", role: Role.BANK_ADMIN, organizationId: uuid }, idem())],
    ["display_name", () => root.createUser({ phone: newPhone(), displayName: " ", role: Role.BANK_ADMIN, organizationId: uuid }, idem())],
    ["display_name", () => root.createUser({ phone: newPhone(), displayName: "a\u0000b", role: Role.BANK_ADMIN, organizationId: uuid }, idem())],
    ["role", () => root.createUser({ phone: newPhone(), displayName: "x", role: Role.UNSPECIFIED, organizationId: uuid }, idem())],
    ["role", () => root.createUser({ phone: newPhone(), displayName: "x", role: 99 as Role, organizationId: uuid }, idem())],
    ["organization_id", () => root.createUser({ phone: newPhone(), displayName: "x", role: Role.BANK_ADMIN, organizationId: "bank-1" }, idem())],
    ["organization_id", () => root.createUser({ phone: newPhone(), displayName: "x", role: Role.SYSTEM_ADMIN, organizationId: uuid }, idem())],
    ["user_id", () => root.getUser({ userId: "1 OR 1=1" })],
    ["page_size", () => root.listUsers({ pageSize: -1 })],
    ["page_token", () => root.listUsers({ pageToken: "garbage!" })],
    ["page_token", () => root.listUsers({ pageToken: Buffer.from(JSON.stringify({ t: "'; DROP TABLE x", id: uuid })).toString("base64url") })],
    ["role", () => root.listUsers({ role: Role.POS_TERMINAL })],
    ["user_id", () => root.disableUser({ userId: "" }, idem())],
    ["kind", () => root.createMachineCredential({ kind: MachineKind.UNSPECIFIED, label: "x" }, idem())],
    ["station_id", () => root.createMachineCredential({ kind: MachineKind.POS_TERMINAL, stationId: "s1", merchantId: uuid, label: "x" }, idem())],
    ["merchant_id", () => root.createMachineCredential({ kind: MachineKind.POS_TERMINAL, stationId: uuid, merchantId: "", label: "x" }, idem())],
    ["bank_id", () => root.createMachineCredential({ kind: MachineKind.POS_TERMINAL, stationId: uuid, merchantId: uuid, bankId: uuid, label: "x" }, idem())],
    ["bank_id", () => root.createMachineCredential({ kind: MachineKind.BANK_SYSTEM, bankId: "b", label: "x" }, idem())],
    ["label", () => root.createMachineCredential({ kind: MachineKind.BANK_SYSTEM, bankId: uuid, label: "" }, idem())],
    ["label", () => root.createMachineCredential({ kind: MachineKind.BANK_SYSTEM, bankId: uuid, label: "x".repeat(101) }, idem())],
    ["client_id", () => root.revokeMachineCredential({ clientId: "" }, idem())],
    ["station_id", () => root.listMachineCredentials({ stationId: "s1" })],
    ["kind", () => root.listMachineCredentials({ kind: 7 as MachineKind })],
    ["page_size", () => root.listMachineCredentials({ pageSize: -1 })],
    ["page_token", () => root.listMachineCredentials({ pageToken: "garbage!" })],
    ["page_token", () => root.listMachineCredentials({ pageToken: Buffer.from(JSON.stringify({ t: "2026-01-01 00:00:00+00", id: uuid })).toString("base64url") })],
    ["page_token", () => root.listMachineCredentials({ pageToken: Buffer.from(JSON.stringify({ t: "9".repeat(18), id: uuid })).toString("base64url") })],
  ];
  for (const [field, call] of cases) {
    const e = await fails(call(), Code.InvalidArgument);
    assert.ok(e.message.startsWith(`${field}:`), `expected the error to name ${field}: ${e.message}`);
  }
});

test.run();
