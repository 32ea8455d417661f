// AuthService tokens as the rest of the platform sees them: access tokens checked at the
// gateway (forged, expired, mis-addressed, tampered → UNAUTHENTICATED), refresh-token
// rotation with reuse detection and retries of lost answers, logout, disabled users. Mobile path: Connect JSON over
// HTTP/1.1 through the gateway; internal calls: a service token straight to AuthService.
import { randomUUID } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { generateKeyPair, importJWK, SignJWT, type JWK } from "jose";
import pg from "pg";
import { AuthService, type Session } from "../gen/fuel/auth/v1/auth_pb.js";
import { Role } from "../gen/fuel/common/v1/common_pb.js";
import { ACCESS_TOKEN_TYP } from "../platform/tokens.js";
import type { AuthContext } from "../services/auth/context.js";
import { fails, idem, newPhone as phoneUnder, peerClient } from "./helpers/rpc.js";
import { connectJson } from "./helpers/clients.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, mintOnboardingToken, principal } from "./helpers/tokens.js";

const test = suite("auth-sessions");
let sys: TestSystem;
let internal: Client<typeof AuthService>;
let db: pg.Client;
const authSettings = () => (sys.services.auth!.deps as AuthContext).settings;

test.before(async () => {
  sys = await startTestSystem({ services: ["auth"] });
  internal = internalClient(sys);
  db = new pg.Client({ connectionString: sys.databaseUrl });
  await db.connect();
});
test.after(async () => {
  await db?.end();
  await sys?.stop();
});

/** AuthService called directly by a mesh peer (KycService), as OnboardDriver does. */
const internalClient = (s: TestSystem, clientIp?: string) => peerClient(s, AuthService, s.cfg.urls.auth, { as: "kyc", clientIp });
const newPhone = () => phoneUnder("+23481");

async function newDriver(): Promise<{ session: Session; driverId: string; phone: string }> {
  const driverId = randomUUID();
  const phone = newPhone();
  const res = await internal.createDriverUser({ phone, driverId, displayName: "Ada Driver" }, idem());
  return { session: res.session!, driverId, phone };
}

const getMe = (token: string) => connectJson(AuthService, sys.gatewayUrl, token).getMe({});

async function signingKey(): Promise<{ kid: string; key: CryptoKey | Uint8Array }> {
  await connectJson(AuthService, sys.gatewayUrl).getJwks({});
  const { rows } = await db.query<{ kid: string; private_jwk: JWK }>(
    `SELECT kid, private_jwk FROM auth.signing_keys WHERE retire_time IS NULL ORDER BY create_time DESC LIMIT 1`,
  );
  return { kid: rows[0]!.kid, key: await importJWK(rows[0]!.private_jwk, "ES256") };
}

async function forge(o: { key: CryptoKey | Uint8Array; kid: string; iss?: string; aud?: string; typ?: string; expIn?: number; claims?: Record<string, unknown> }) {
  const now = Math.floor(Date.now() / 1000);
  return await new SignJWT({ role: "SYSTEM_ADMIN", ...o.claims })
    .setProtectedHeader({ alg: "ES256", kid: o.kid, typ: o.typ ?? ACCESS_TOKEN_TYP })
    .setIssuer(o.iss ?? sys.cfg.jwtIssuer)
    .setAudience(o.aud ?? sys.cfg.jwtAudience)
    .setSubject(randomUUID())
    .setIssuedAt(now)
    .setExpirationTime(now + (o.expIn ?? 600))
    .sign(o.key);
}

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");

test("a session from CreateDriverUser works at the gateway and says who the driver is", async () => {
  const { session, driverId } = await newDriver();
  const me = await getMe(session.accessToken);
  assert.is(me.principal?.role, Role.DRIVER);
  assert.is(me.principal?.driverId, driverId);
  assert.is(me.principal?.agencyId, "", "a driver's agency is the agency's decision, on the profile, never on the token");
  assert.is(me.principal?.subjectId, session.principal?.subjectId);
  const ttl = Number(session.accessTokenExpiresAt!.seconds) * 1000 - sys.clock.now().getTime();
  assert.ok(ttl > 0 && ttl <= 15 * 60_000 + 1000, `access token lives ≤ 15 min (${ttl} ms)`);
  const [header, payload] = session.accessToken.split(".").slice(0, 2).map((p) => JSON.parse(Buffer.from(p, "base64url").toString()));
  assert.is(header.alg, "ES256");
  assert.is(header.typ, "at+jwt");
  assert.ok(header.kid);
  assert.is(payload.iss, sys.cfg.jwtIssuer);
  assert.is(payload.aud, sys.cfg.jwtAudience);
  assert.is(payload.role, "DRIVER");
  assert.is(payload.driver_id, driverId);
  // The JWKS publishes the verifying key under that kid, public parts only.
  const jwks = JSON.parse((await connectJson(AuthService, sys.gatewayUrl).getJwks({})).jwksJson) as { keys: JWK[] };
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  assert.ok(jwk, "kid published");
  assert.is(jwk!.d, undefined, "no private key material in the JWKS");
});

test("forged and misused tokens are UNAUTHENTICATED at the gateway", async () => {
  const { kid, key } = await signingKey();
  const good = await forge({ key, kid });
  assert.is((await getMe(good)).principal?.role, Role.SYSTEM_ADMIN, "control: a correctly signed token passes");

  const other = (await generateKeyPair("ES256", { extractable: true })).privateKey;
  const { session } = await newDriver();
  const [h, p, sig] = session.accessToken.split(".");
  const payload = JSON.parse(Buffer.from(p!, "base64url").toString());
  const header = JSON.parse(Buffer.from(h!, "base64url").toString());
  const hs256 = await new SignJWT({ role: "SYSTEM_ADMIN" })
    .setProtectedHeader({ alg: "HS256", kid, typ: ACCESS_TOKEN_TYP })
    .setIssuer(sys.cfg.jwtIssuer).setAudience(sys.cfg.jwtAudience).setSubject(randomUUID()).setIssuedAt().setExpirationTime("10m")
    .sign(new TextEncoder().encode("a-guessable-shared-secret-of-32-bytes!"));

  const cases: Array<[string, string]> = [
    ["alg none", `${b64({ alg: "none", typ: ACCESS_TOKEN_TYP, kid })}.${b64({ ...payload, role: "SYSTEM_ADMIN" })}.`],
    ["alg HS256", hs256],
    ["wrong key, same kid", await forge({ key: other, kid })],
    ["unknown kid", await forge({ key: other, kid: randomUUID() })],
    ["expired", await mintAccessToken(sys, principal(Role.SYSTEM_ADMIN), { ttlSeconds: -120 })],
    ["wrong aud", await forge({ key, kid, aud: "someone-else" })],
    ["wrong iss", await forge({ key, kid, iss: "https://evil.example" })],
    ["wrong typ (onboarding token)", await mintOnboardingToken(sys, newPhone())],
    ["refresh token as access token", session.refreshToken],
    ["tampered role claim", `${h}.${b64({ ...payload, role: "SYSTEM_ADMIN" })}.${sig}`],
    ["tampered header", `${b64({ ...header, kid: randomUUID() })}.${p}.${sig}`],
    ["garbage", "not-a-jwt"],
  ];
  for (const [name, token] of cases) {
    try {
      await getMe(token);
      assert.unreachable(`${name}: accepted`);
    } catch (err) {
      if (err instanceof assert.Assertion) throw err;
      assert.is(Code[ConnectError.from(err).code], "Unauthenticated", `${name}: ${ConnectError.from(err).message}`);
    }
  }
  // Without any token the method asks for credentials.
  await fails(connectJson(AuthService, sys.gatewayUrl).getMe({}), Code.Unauthenticated);
});

test("refresh tokens rotate; reusing a spent one revokes the whole family", async () => {
  const { session: s1 } = await newDriver();
  const auth = connectJson(AuthService, sys.gatewayUrl);
  const s2 = (await auth.refreshSession({ refreshToken: s1.refreshToken })).session!;
  assert.is.not(s2.refreshToken, s1.refreshToken);
  assert.is.not(s2.accessToken, s1.accessToken);
  assert.is(s2.principal?.subjectId, s1.principal?.subjectId);
  assert.is((await getMe(s2.accessToken)).principal?.role, Role.DRIVER);
  const s3 = (await auth.refreshSession({ refreshToken: s2.refreshToken })).session!;
  // The family keeps its absolute expiry.
  assert.is(s3.refreshTokenExpiresAt?.seconds, s1.refreshTokenExpiresAt?.seconds);

  // A thief replays s1's (spent) token: detected, and the legitimate s3 dies with it.
  await fails(auth.refreshSession({ refreshToken: s1.refreshToken }), Code.Unauthenticated, "REFRESH_TOKEN_REUSED");
  await fails(auth.refreshSession({ refreshToken: s3.refreshToken }), Code.Unauthenticated, "REFRESH_TOKEN_INVALID");

  // Only hashes are stored.
  const { rows } = await db.query(`SELECT token_hash FROM auth.refresh_tokens WHERE token_hash = $1 OR token_hash = $2`, [s1.refreshToken, s3.refreshToken]);
  assert.is(rows.length, 0);
});

/** Tokens of `familyOf`'s family that can still be refreshed. */
async function liveTokens(familyOf: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM auth.refresh_tokens
      WHERE family_id = (SELECT family_id FROM auth.refresh_tokens WHERE token_hash = encode(sha256(convert_to($1, 'UTF8')), 'hex'))
        AND NOT spent AND NOT revoked`,
    [familyOf],
  );
  return rows[0]!.n;
}

test("a refresh whose answer was lost can be retried; the answer never seen is retired", async () => {
  const { session: s1 } = await newDriver();
  const auth = connectJson(AuthService, sys.gatewayUrl);
  // The phone's first refresh succeeds on the server, but the answer never reaches it.
  const lost = (await auth.refreshSession({ refreshToken: s1.refreshToken })).session!;
  // It retries with the token it still holds, and is signed in again.
  const s2 = (await auth.refreshSession({ refreshToken: s1.refreshToken })).session!;
  assert.is.not(s2.refreshToken, lost.refreshToken);
  assert.is(s2.refreshTokenExpiresAt?.seconds, s1.refreshTokenExpiresAt?.seconds, "a retry does not extend the login");
  assert.is((await getMe(s2.accessToken)).principal?.subjectId, s1.principal?.subjectId);
  assert.is(await liveTokens(s1.refreshToken), 1, "one live token per family");
  const s3 = (await auth.refreshSession({ refreshToken: s2.refreshToken })).session!;
  assert.is(await liveTokens(s1.refreshToken), 1);

  // Had the retry come from a thief, the owner would next present the retired token:
  // that is a reuse, and the whole family (the thief's tokens too) is revoked.
  await fails(auth.refreshSession({ refreshToken: lost.refreshToken }), Code.Unauthenticated, "REFRESH_TOKEN_REUSED");
  await fails(auth.refreshSession({ refreshToken: s3.refreshToken }), Code.Unauthenticated, "REFRESH_TOKEN_INVALID");
  assert.is(await liveTokens(s1.refreshToken), 0);
});

test("presenting a spent token after its successor was used, or after the grace period, revokes the family", async () => {
  const auth = connectJson(AuthService, sys.gatewayUrl);
  // Its successor has been used: whoever presents the old token holds a copy.
  const { session: a1 } = await newDriver();
  const a2 = (await auth.refreshSession({ refreshToken: a1.refreshToken })).session!;
  const a3 = (await auth.refreshSession({ refreshToken: a2.refreshToken })).session!;
  await fails(auth.refreshSession({ refreshToken: a1.refreshToken }), Code.Unauthenticated, "REFRESH_TOKEN_REUSED");
  await fails(auth.refreshSession({ refreshToken: a3.refreshToken }), Code.Unauthenticated, "REFRESH_TOKEN_INVALID");

  // Presented again after the grace period: too late to be a retry.
  const { session: b1 } = await newDriver();
  const b2 = (await auth.refreshSession({ refreshToken: b1.refreshToken })).session!;
  sys.clock.advance(authSettings().refreshRetryGraceSeconds * 1000 + 1000);
  await fails(auth.refreshSession({ refreshToken: b1.refreshToken }), Code.Unauthenticated, "REFRESH_TOKEN_REUSED");
  await fails(auth.refreshSession({ refreshToken: b2.refreshToken }), Code.Unauthenticated, "REFRESH_TOKEN_INVALID");
});

test("concurrent refreshes of one token: every one answered, one new token stays live", async () => {
  const { session } = await newDriver();
  const auth = connectJson(AuthService, sys.gatewayUrl);
  const results = await Promise.all(Array.from({ length: 4 }, () => auth.refreshSession({ refreshToken: session.refreshToken })));
  const tokens = new Set(results.map((r) => r.session!.refreshToken));
  assert.is(tokens.size, 4, "each answer carries its own token");
  // Each later attempt retired the token the one before it issued: exactly one is live.
  assert.is(await liveTokens(session.refreshToken), 1);
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM auth.refresh_tokens WHERE parent_hash = encode(sha256(convert_to($1, 'UTF8')), 'hex')`,
    [session.refreshToken],
  );
  assert.is(rows[0]!.n, 4);
});

test("RevokeSession logs out the family; unknown tokens are fine; empty is INVALID_ARGUMENT", async () => {
  const { session } = await newDriver();
  const auth = connectJson(AuthService, sys.gatewayUrl);
  const next = (await auth.refreshSession({ refreshToken: session.refreshToken })).session!;
  await auth.revokeSession({ refreshToken: session.refreshToken }); // any token of the family
  await fails(auth.refreshSession({ refreshToken: next.refreshToken }), Code.Unauthenticated, "REFRESH_TOKEN_INVALID");
  await auth.revokeSession({ refreshToken: next.refreshToken }); // twice is fine
  await auth.revokeSession({ refreshToken: "never-issued" });
  const err = await fails(auth.revokeSession({ refreshToken: "" }), Code.InvalidArgument);
  assert.match(err.message, "refresh_token");
  const err2 = await fails(auth.refreshSession({ refreshToken: "" }), Code.InvalidArgument);
  assert.match(err2.message, "refresh_token");
  await fails(auth.refreshSession({ refreshToken: "x".repeat(5000) }), Code.InvalidArgument);
  await fails(auth.refreshSession({ refreshToken: "never-issued" }), Code.Unauthenticated, "REFRESH_TOKEN_INVALID");
});

test("a disabled user cannot refresh; disabling yourself is refused", async () => {
  const { session } = await newDriver();
  const adminP = principal(Role.SYSTEM_ADMIN);
  const admin = connectJson(AuthService, sys.gatewayUrl, await mintAccessToken(sys, adminP));
  const res = await admin.disableUser({ userId: session.principal!.subjectId }, idem());
  assert.is(res.user?.active, false);
  await fails(connectJson(AuthService, sys.gatewayUrl).refreshSession({ refreshToken: session.refreshToken }), Code.Unauthenticated, "USER_DISABLED");
  await fails(admin.disableUser({ userId: adminP.subjectId }, idem()), Code.FailedPrecondition, "CANNOT_DISABLE_SELF");
  await fails(admin.disableUser({ userId: randomUUID() }, idem()), Code.NotFound);
  const err = await fails(admin.disableUser({ userId: "42" }, idem()), Code.InvalidArgument);
  assert.match(err.message, "user_id");
  // Only SYSTEM_ADMIN may disable.
  const bank = connectJson(AuthService, sys.gatewayUrl, await mintAccessToken(sys, principal(Role.BANK_ADMIN, { bankId: randomUUID() })));
  await fails(bank.disableUser({ userId: session.principal!.subjectId }, idem()), Code.PermissionDenied);
});

test("CreateDriverUser: one user per phone and per driver; internal only", async () => {
  const { phone, driverId, session } = await newDriver();
  // KycService retrying the same onboarding (its idempotency record lost) gets the same user.
  const again = await internal.createDriverUser({ phone, driverId, displayName: "Ada Driver" }, idem());
  assert.is(again.session?.principal?.subjectId, session.principal?.subjectId);
  assert.is.not(again.session?.refreshToken, session.refreshToken);
  await fails(internal.createDriverUser({ phone, driverId: randomUUID(), displayName: "x" }, idem()), Code.AlreadyExists, "PHONE_ALREADY_REGISTERED");
  await fails(internal.createDriverUser({ phone: newPhone(), driverId, displayName: "x" }, idem()), Code.AlreadyExists);
  const bad: Array<[Record<string, string>, string]> = [
    [{ phone: "0801234", driverId: randomUUID() }, "phone"],
    [{ phone: newPhone(), driverId: "" }, "driver_id"],
    [{ phone: newPhone(), driverId: randomUUID(), displayName: "x".repeat(101) }, "display_name"],
  ];
  for (const [req, field] of bad) {
    const err = await fails(internal.createDriverUser(req, idem()), Code.InvalidArgument);
    assert.ok(err.message.startsWith(`${field}:`), `${field}: ${err.message}`);
  }
  // Straight to the service without a service token: refused; the gateway does not expose it.
  const anon = createClient(AuthService, createGrpcTransport({ baseUrl: sys.cfg.urls.auth }));
  await fails(anon.createDriverUser({ phone: newPhone(), driverId: randomUUID() }, idem()), Code.PermissionDenied);
  try {
    await connectJson(AuthService, sys.gatewayUrl).createDriverUser({ phone: newPhone(), driverId: randomUUID() }, idem());
    assert.unreachable("the gateway exposed an internal method");
  } catch (err) {
    if (err instanceof assert.Assertion) throw err;
    assert.ok([Code.NotFound, Code.Unimplemented, Code.PermissionDenied].includes(ConnectError.from(err).code));
  }
});

test("GetContact: the phone and role of a user, for services only", async () => {
  const { phone, session } = await newDriver();
  const c = await internal.getContact({ userId: session.principal!.subjectId });
  assert.is(c.phone, phone);
  assert.is(c.role, Role.DRIVER);
  await fails(internal.getContact({ userId: randomUUID() }), Code.NotFound);
  const err = await fails(internal.getContact({ userId: "" }), Code.InvalidArgument);
  assert.match(err.message, "user_id");
});

test("refresh families expire with the refresh TTL (service clock)", async () => {
  // Last in this suite: the clock jump also ages the signing key.
  const { session } = await newDriver();
  sys.clock.advance(authSettings().refreshTokenTtlSeconds * 1000 + 1000);
  await fails(connectJson(AuthService, sys.gatewayUrl).refreshSession({ refreshToken: session.refreshToken }), Code.Unauthenticated, "REFRESH_TOKEN_INVALID");
});

test.run();
