// ListMachineCredentials through the gateway, as a merchant's tooling (Connect JSON) and
// a bank's integration team (grpc-js) call it: each admin lists only its own
// organisation's credentials, newest first and page by page, filters never reach past
// that, revoked credentials show only when asked for, no secret or hash is ever in an
// answer, and other roles are refused.
import { randomUUID } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { toJsonString } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import pg from "pg";
import { AuthService, ListMachineCredentialsResponseSchema, MachineKind, type ListMachineCredentialsRequest } from "../gen/fuel/auth/v1/auth_pb.js";
import { Role } from "../gen/fuel/common/v1/common_pb.js";
import { connectJson, GrpcJsClient } from "./helpers/clients.js";
import { createBank, createMerchant, createStation } from "./helpers/orgs.js";
import { fails, idem } from "./helpers/rpc.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";

const test = suite("auth-machines");
let sys: TestSystem;
let db: pg.Client;

test.before(async () => {
  // StationService and KycService answer whether the stations and banks credentials are bound to exist.
  sys = await startTestSystem({ services: ["auth", "kyc", "station"] });
  db = new pg.Client({ connectionString: sys.databaseUrl });
  await db.connect();
});
test.after(async () => {
  await db?.end();
  await sys?.stop();
});

async function as(role: Role, binding: Parameters<typeof principal>[1] = {}) {
  const token = await mintAccessToken(sys, principal(role, binding));
  return { token, auth: connectJson(AuthService, sys.gatewayUrl, token) };
}

const root = async () => (await as(Role.SYSTEM_ADMIN)).token;
type Lister = { listMachineCredentials(req: Partial<ListMachineCredentialsRequest>): Promise<{ credentials: Array<{ clientId: string }>; nextPageToken: string }> };

/** Every page of a listing, in order, and how many pages it took. */
async function allPages(who: Lister, req: Partial<ListMachineCredentialsRequest>): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let pageToken = "";
  let pages = 0;
  do {
    const page = await who.listMachineCredentials({ ...req, pageToken });
    ids.push(...page.credentials.map((c) => c.clientId));
    pageToken = page.nextPageToken;
    pages++;
  } while (pageToken && pages < 50);
  return { ids, pages };
}

test("a merchant admin lists its own terminals, newest first, page by page; never another merchant's", async () => {
  const merchantId = await createMerchant(sys.gatewayUrl, await root());
  const [s1, s2] = [await createStation(sys.gatewayUrl, await root(), merchantId), await createStation(sys.gatewayUrl, await root(), merchantId)];
  const otherMerchantId = await createMerchant(sys.gatewayUrl, await root());
  const otherStation = await createStation(sys.gatewayUrl, await root(), otherMerchantId);
  const { auth: merchant } = await as(Role.MERCHANT_ADMIN, { merchantId });
  const { auth: other } = await as(Role.MERCHANT_ADMIN, { merchantId: otherMerchantId });

  const issued: string[] = [];
  const secrets: string[] = [];
  for (let i = 0; i < 5; i++) {
    sys.clock.advance(10);
    const r = await merchant.createMachineCredential({ kind: MachineKind.POS_TERMINAL, stationId: i % 2 ? s2 : s1, merchantId, label: `Pump ${i}` }, idem());
    issued.push(r.credential!.clientId);
    secrets.push(r.clientSecret);
  }
  const theirs = (await other.createMachineCredential({ kind: MachineKind.POS_TERMINAL, stationId: otherStation, merchantId: otherMerchantId, label: "Theirs" }, idem())).credential!;

  const newestFirst = [...issued].reverse();
  const paged = await allPages(merchant, { pageSize: 2 });
  assert.equal(paged.ids, newestFirst, "all five, newest first, no repeats");
  assert.is(paged.pages, 3);
  const first = await merchant.listMachineCredentials({});
  assert.equal(first.credentials.map((c) => c.clientId), newestFirst);
  assert.is(first.nextPageToken, "", "one page holds them all at the default size");
  const c = first.credentials[0]!;
  assert.equal(
    [c.kind, c.merchantId, c.stationId, c.bankId, c.label, c.active],
    [MachineKind.POS_TERMINAL, merchantId, s1, "", "Pump 4", true],
  );
  assert.ok(c.createTime && c.createTime.seconds > 0n);
  // Neither the secrets nor their stored hashes are in any answer.
  const { rows } = await db.query(`SELECT secret_hash FROM auth.machine_credentials WHERE client_id = ANY($1)`, [issued]);
  const body = toJsonString(ListMachineCredentialsResponseSchema, first);
  for (const s of [...secrets, ...rows.map((r) => r.secret_hash as string)]) assert.not.ok(body.includes(s), "a secret or its hash was listed");

  // Filters narrow within the merchant; another merchant's station reads as no station at all.
  assert.equal((await merchant.listMachineCredentials({ stationId: s2 })).credentials.map((x) => x.clientId), [issued[3], issued[1]]);
  assert.equal((await merchant.listMachineCredentials({ stationId: otherStation })).credentials, []);
  assert.equal((await merchant.listMachineCredentials({ stationId: randomUUID() })).credentials, []);
  assert.equal((await merchant.listMachineCredentials({ kind: MachineKind.BANK_SYSTEM })).credentials, []);
  assert.equal((await merchant.listMachineCredentials({ kind: MachineKind.POS_TERMINAL })).credentials.length, 5);
  assert.equal((await other.listMachineCredentials({})).credentials.map((x) => x.clientId), [theirs.clientId]);
  assert.equal((await other.listMachineCredentials({ stationId: s1, includeRevoked: true })).credentials, []);

  // Revoked ones drop out, and come back marked when asked for.
  await merchant.revokeMachineCredential({ clientId: issued[4]! }, idem());
  await merchant.revokeMachineCredential({ clientId: issued[1]! }, idem());
  assert.equal((await merchant.listMachineCredentials({})).credentials.map((x) => x.clientId), [issued[3], issued[2], issued[0]]);
  const withRevoked = await allPages(merchant, { includeRevoked: true, pageSize: 3 });
  assert.equal(withRevoked.ids, newestFirst);
  assert.is(withRevoked.pages, 2);
  const states = (await merchant.listMachineCredentials({ includeRevoked: true })).credentials.map((x) => [x.label, x.active]);
  assert.equal(states, [["Pump 4", false], ["Pump 3", true], ["Pump 2", true], ["Pump 1", false], ["Pump 0", true]]);
  assert.equal((await merchant.listMachineCredentials({ stationId: s2, includeRevoked: false })).credentials.map((x) => x.clientId), [issued[3]]);
});

test("a bank admin lists its bank's systems over grpc-js; a system admin lists every organisation's", async () => {
  const [bankA, bankB] = [await createBank(sys.gatewayUrl, await root()), await createBank(sys.gatewayUrl, await root())];
  const merchantId = await createMerchant(sys.gatewayUrl, await root());
  const stationId = await createStation(sys.gatewayUrl, await root(), merchantId);
  const a = await as(Role.BANK_ADMIN, { bankId: bankA });
  const { auth: b } = await as(Role.BANK_ADMIN, { bankId: bankB });
  const { auth: merchant } = await as(Role.MERCHANT_ADMIN, { merchantId });
  const coreA = (await a.auth.createMachineCredential({ kind: MachineKind.BANK_SYSTEM, bankId: bankA, label: "Core A" }, idem())).credential!;
  sys.clock.advance(10);
  const ledgerA = (await a.auth.createMachineCredential({ kind: MachineKind.BANK_SYSTEM, bankId: bankA, label: "Ledger sync A" }, idem())).credential!;
  const coreB = (await b.createMachineCredential({ kind: MachineKind.BANK_SYSTEM, bankId: bankB, label: "Core B" }, idem())).credential!;
  const pos = (await merchant.createMachineCredential({ kind: MachineKind.POS_TERMINAL, stationId, merchantId, label: "Pump" }, idem())).credential!;

  const team = new GrpcJsClient(AuthService, sys.gatewayUrl, a.token);
  try {
    const { message } = await team.unary(AuthService.method.listMachineCredentials, {});
    assert.equal(message.credentials.map((x) => x.clientId), [ledgerA.clientId, coreA.clientId]);
    assert.ok(message.credentials.every((x) => x.kind === MachineKind.BANK_SYSTEM && x.bankId === bankA && x.merchantId === "" && x.stationId === ""));
    // A station or POS terminals are never a bank's: nothing, not an error.
    assert.equal((await team.unary(AuthService.method.listMachineCredentials, { stationId })).message.credentials, []);
    assert.equal((await team.unary(AuthService.method.listMachineCredentials, { kind: MachineKind.POS_TERMINAL })).message.credentials, []);
    const paged = await team.unary(AuthService.method.listMachineCredentials, { pageSize: 1 });
    assert.equal(paged.message.credentials.map((x) => x.clientId), [ledgerA.clientId]);
    const rest = await team.unary(AuthService.method.listMachineCredentials, { pageSize: 1, pageToken: paged.message.nextPageToken });
    assert.equal(rest.message.credentials.map((x) => x.clientId), [coreA.clientId]);
    assert.is(rest.message.nextPageToken, "");
  } finally {
    team.close();
  }
  assert.equal((await b.listMachineCredentials({})).credentials.map((x) => x.clientId), [coreB.clientId]);

  const { auth: operator } = await as(Role.SYSTEM_ADMIN);
  const everything = (await allPages(operator, { pageSize: 200 })).ids;
  for (const id of [coreA, ledgerA, coreB, pos].map((x) => x.clientId)) assert.ok(everything.includes(id), `the operator misses ${id}`);
  const systems = await allPages(operator, { kind: MachineKind.BANK_SYSTEM, pageSize: 200 });
  assert.ok(systems.ids.includes(coreB.clientId) && !systems.ids.includes(pos.clientId));
  assert.equal((await operator.listMachineCredentials({ stationId })).credentials.map((x) => x.clientId), [pos.clientId]);
});

test("drivers, agencies, terminals and bank systems are refused", async () => {
  for (const [role, binding] of [
    [Role.DRIVER, { driverId: randomUUID() }],
    [Role.AGENCY_ADMIN, { agencyId: randomUUID() }],
    [Role.POS_TERMINAL, { merchantId: randomUUID(), stationId: randomUUID() }],
    [Role.BANK_SYSTEM, { bankId: randomUUID() }],
  ] as const) {
    const { token, auth } = await as(role, binding);
    await fails(auth.listMachineCredentials({}), Code.PermissionDenied, "ROLE_NOT_ALLOWED");
    const over = new GrpcJsClient(AuthService, sys.gatewayUrl, token);
    try {
      await over.unary(AuthService.method.listMachineCredentials, {});
      assert.unreachable(`${Role[role]} listed credentials over grpc-js`);
    } catch (err) {
      if (err instanceof assert.Assertion) throw err;
      assert.is((err as grpc.ServiceError).code, grpc.status.PERMISSION_DENIED);
    } finally {
      over.close();
    }
  }
  await fails(connectJson(AuthService, sys.gatewayUrl).listMachineCredentials({}), Code.Unauthenticated);
});

test("credentials issued within the same microsecond, or a microsecond apart, page without loss or repeat", async () => {
  // Through the API issue times differ by milliseconds at least; rows written otherwise
  // (an import, a clock that stood still) may share one, or differ by a microsecond.
  const merchantId = randomUUID();
  const stationId = randomUUID();
  // Microseconds from one instant: three rows share one, their neighbours are 1 µs apart.
  const offsets = [2, 1, 1, 1, 0, -1];
  const made: Array<{ id: string; us: number }> = [];
  for (const us of offsets) {
    const id = randomUUID();
    await db.query(
      `INSERT INTO auth.machine_credentials (client_id, secret_hash, kind, station_id, merchant_id, label, created_by, create_time)
       VALUES ($1, 'not-a-hash', 'POS_TERMINAL', $2, $3, 'imported', 'test', timestamptz '2031-05-01 10:00:00+00' + $4 * interval '1 microsecond')`,
      [id, stationId, merchantId, us],
    );
    made.push({ id, us });
  }
  const expected = made.sort((x, y) => y.us - x.us || (x.id < y.id ? 1 : -1)).map((x) => x.id);
  const { auth: merchant } = await as(Role.MERCHANT_ADMIN, { merchantId });
  for (const pageSize of [1, 2, 4]) {
    assert.equal((await allPages(merchant, { pageSize })).ids, expected, `pages of ${pageSize}`);
  }
});

test.run();
