// Real access tokens for tests that are not about login: signed with AuthService's own
// current signing key (read from its schema), so every service verifies them through
// the real JWKS path exactly as it verifies tokens from VerifyOtp.
import { randomUUID } from "node:crypto";
import { importJWK, SignJWT, type JWK } from "jose";
import pg from "pg";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { AuthService, GetJwksRequestSchema } from "../../gen/fuel/auth/v1/auth_pb.js";
import { Role } from "../../gen/fuel/common/v1/common_pb.js";
import type { Config } from "../../platform/config.js";
import type { Principal } from "../../platform/context.js";
import { ACCESS_TOKEN_TYP, ONBOARDING_TOKEN_TYP, claimsFromPrincipal } from "../../platform/tokens.js";

/**
 * What minting needs of a system: AuthService's address (it creates its first key on
 * demand), the database holding its keys, and the issuer and audience services expect.
 * A TestSystem is one; so is a mesh running in a child process.
 */
export interface TokenSource {
  cfg: Pick<Config, "urls" | "jwtIssuer" | "jwtAudience">;
  databaseUrl: string;
}

export function principal(role: Role, binding: Partial<Principal> = {}): Principal {
  return { subjectId: randomUUID(), role, agencyId: "", bankId: "", merchantId: "", stationId: "", driverId: "", ...binding };
}

export async function mintAccessToken(sys: TokenSource, p: Principal, opts: { ttlSeconds?: number } = {}): Promise<string> {
  return await mint(sys, { ...claimsFromPrincipal(p) }, p.subjectId, ACCESS_TOKEN_TYP, opts.ttlSeconds ?? 600);
}

/** An onboarding token as AuthService.CustomerVerifyOtp issues it: proves `phone`. */
export async function mintOnboardingToken(sys: TokenSource, phone: string): Promise<string> {
  return await mint(sys, { phone }, randomUUID(), ONBOARDING_TOKEN_TYP, 900);
}

async function mint(sys: TokenSource, claims: Record<string, unknown>, subject: string, typ: string, ttlSeconds: number): Promise<string> {
  // Make AuthService create its first key if it has none yet.
  const auth = createClient(AuthService, createGrpcTransport({ baseUrl: sys.cfg.urls.auth }));
  await auth.getJwks(create(GetJwksRequestSchema));
  const db = new pg.Client({ connectionString: sys.databaseUrl });
  await db.connect();
  try {
    const { rows } = await db.query<{ kid: string; private_jwk: JWK }>(
      `SELECT kid, private_jwk FROM auth.signing_keys WHERE retire_time IS NULL ORDER BY create_time DESC LIMIT 1`,
    );
    const key = await importJWK(rows[0]!.private_jwk, "ES256");
    const now = Math.floor(Date.now() / 1000);
    return await new SignJWT(claims)
      .setProtectedHeader({ alg: "ES256", kid: rows[0]!.kid, typ })
      .setIssuer(sys.cfg.jwtIssuer)
      .setAudience(sys.cfg.jwtAudience)
      .setSubject(subject)
      .setIssuedAt(now)
      .setExpirationTime(now + ttlSeconds)
      .setJti(randomUUID())
      .sign(key);
  } finally {
    await db.end();
  }
}
