// Verifying tokens. Access tokens are ES256 JWTs from AuthService, checked against its
// published JWKS (so no service holds a signing secret for user tokens). Service tokens
// are short HS256 JWTs minted by each service with the mesh secret; they say which
// service is calling an internal method.
import { createLocalJWKSet, jwtVerify, SignJWT, errors as joseErrors, type JSONWebKeySet, type JWTPayload } from "jose";
import { Role } from "../gen/fuel/common/v1/common_pb.js";
import type { Principal } from "./context.js";
import { unauthenticated } from "./errors.js";

export const ACCESS_TOKEN_TYP = "at+jwt";
export const ONBOARDING_TOKEN_TYP = "onboarding+jwt";
const SERVICE_TOKEN_AUD = "fuel-mesh";
const SERVICE_TOKEN_TTL_S = 300;
/** Refetch a JWKS at most this often when an unknown `kid` shows up. */
const JWKS_REFRESH_COOLDOWN_MS = 10_000;
const JWKS_MAX_AGE_MS = 5 * 60_000;
/** Verified tokens remembered (a token is immutable until it expires); bounded. */
const VERIFIED_CACHE_MAX = 10_000;

export interface AccessClaims extends JWTPayload {
  role: string;
  agency_id?: string;
  bank_id?: string;
  merchant_id?: string;
  station_id?: string;
  driver_id?: string;
}

export function roleName(role: Role): string {
  return Role[role];
}

export function roleFromName(name: unknown): Role {
  if (typeof name !== "string") return Role.UNSPECIFIED;
  const value = (Role as unknown as Record<string, number>)[name];
  return typeof value === "number" ? (value as Role) : Role.UNSPECIFIED;
}

export function claimsFromPrincipal(p: Principal): Omit<AccessClaims, "sub"> {
  const c: Omit<AccessClaims, "sub"> = { role: roleName(p.role) };
  if (p.agencyId) c.agency_id = p.agencyId;
  if (p.bankId) c.bank_id = p.bankId;
  if (p.merchantId) c.merchant_id = p.merchantId;
  if (p.stationId) c.station_id = p.stationId;
  if (p.driverId) c.driver_id = p.driverId;
  return c;
}

export type JwksSource = () => Promise<JSONWebKeySet>;

/** Verifies access tokens against a JWKS that is cached and refreshed on unknown kids. */
export class AccessTokenVerifier {
  private keys: ReturnType<typeof createLocalJWKSet> | undefined;
  private fetchedAt = 0;
  private inflight: Promise<void> | undefined;

  constructor(
    private readonly source: JwksSource,
    private readonly issuer: string,
    private readonly audience: string,
  ) {}

  private async refresh(): Promise<void> {
    this.inflight ??= (async () => {
      try {
        this.keys = createLocalJWKSet(await this.source());
        this.fetchedAt = Date.now();
      } finally {
        this.inflight = undefined;
      }
    })();
    await this.inflight;
  }

  // An ES256 verification costs about a millisecond, and every hop of a call verifies the
  // same token again; remember the ones already verified until they expire.
  private readonly verified = new Map<string, AccessClaims>();

  async verify(token: string, typ = ACCESS_TOKEN_TYP): Promise<AccessClaims> {
    const key = `${typ} ${token}`;
    const hit = this.verified.get(key);
    if (hit && (hit.exp ?? 0) * 1000 > Date.now() + 5_000) return hit;
    const claims = await this.verifyUncached(token, typ);
    if (this.verified.size >= VERIFIED_CACHE_MAX) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(key, claims);
    return claims;
  }

  private async verifyUncached(token: string, typ: string): Promise<AccessClaims> {
    if (!this.keys || Date.now() - this.fetchedAt > JWKS_MAX_AGE_MS) await this.refresh();
    try {
      return await this.check(token, typ);
    } catch (err) {
      // A key rotated in since our last fetch: refetch once, with a cooldown so a flood
      // of forged kids cannot turn into a flood of JWKS fetches.
      if (err instanceof joseErrors.JWKSNoMatchingKey && Date.now() - this.fetchedAt > JWKS_REFRESH_COOLDOWN_MS) {
        await this.refresh();
        try {
          return await this.check(token, typ);
        } catch (err2) {
          throw toAuthError(err2);
        }
      }
      throw toAuthError(err);
    }
  }

  private async check(token: string, typ: string): Promise<AccessClaims> {
    const { payload } = await jwtVerify(token, this.keys!, {
      issuer: this.issuer,
      audience: this.audience,
      typ,
      algorithms: ["ES256"],
      requiredClaims: ["exp", "iat", "sub"],
      clockTolerance: 5,
    });
    return payload as AccessClaims;
  }
}

function toAuthError(err: unknown) {
  if (err instanceof joseErrors.JWTExpired) return unauthenticated("TOKEN_EXPIRED", "access token expired");
  return unauthenticated("TOKEN_INVALID", "access token invalid");
}

export function principalFromClaims(c: AccessClaims): Principal {
  const role = roleFromName(c.role);
  if (role === Role.UNSPECIFIED || role === Role.SERVICE || typeof c.sub !== "string") {
    throw unauthenticated("TOKEN_INVALID", "access token invalid");
  }
  return {
    subjectId: c.sub,
    role,
    agencyId: c.agency_id ?? "",
    bankId: c.bank_id ?? "",
    merchantId: c.merchant_id ?? "",
    stationId: c.station_id ?? "",
    driverId: c.driver_id ?? "",
  };
}

/** Mints and checks service tokens; one cached token per calling service. */
export class ServiceTokens {
  private cached: { token: string; expiresAt: number } | undefined;

  constructor(private readonly secret: Uint8Array, private readonly serviceName: string) {}

  async token(): Promise<string> {
    const now = Date.now();
    if (this.cached && this.cached.expiresAt - now > 60_000) return this.cached.token;
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256", typ: "svc+jwt" })
      .setSubject(`service:${this.serviceName}`)
      .setAudience(SERVICE_TOKEN_AUD)
      .setIssuer(SERVICE_TOKEN_AUD)
      .setIssuedAt()
      .setExpirationTime(`${SERVICE_TOKEN_TTL_S}s`)
      .sign(this.secret);
    this.cached = { token, expiresAt: now + SERVICE_TOKEN_TTL_S * 1000 };
    return token;
  }

  // Each peer sends the same token on every hop until it renews it; an HMAC check plus
  // JWT parsing per hop is measurable, so remember verified ones until they expire. There
  // are only a handful live at once (one per peer service), the bound is for safety.
  private readonly verified = new Map<string, { service: string; expiresAtMs: number }>();

  /** The calling service's name, or throws UNAUTHENTICATED. */
  async verify(token: string): Promise<string> {
    const hit = this.verified.get(token);
    if (hit && hit.expiresAtMs > Date.now()) return hit.service;
    const out = await this.verifyUncached(token);
    if (this.verified.size >= 64) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, out);
    return out.service;
  }

  private async verifyUncached(token: string): Promise<{ service: string; expiresAtMs: number }> {
    try {
      const { payload } = await jwtVerify(token, this.secret, {
        audience: SERVICE_TOKEN_AUD,
        issuer: SERVICE_TOKEN_AUD,
        typ: "svc+jwt",
        algorithms: ["HS256"],
        requiredClaims: ["exp", "sub"],
      });
      const sub = payload.sub ?? "";
      if (!sub.startsWith("service:")) throw new Error("bad subject");
      return { service: sub.slice("service:".length), expiresAtMs: (payload.exp ?? 0) * 1000 };
    } catch {
      throw unauthenticated("SERVICE_TOKEN_INVALID", "service token invalid");
    }
  }
}
