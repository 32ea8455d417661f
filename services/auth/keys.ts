// JWT signing keys: ES256 key pairs with a `kid`, kept in auth.signing_keys. The newest
// active key signs; every key that may still have live tokens is published in the JWKS.
// A key older than ROTATE_AFTER_MS is retired and replaced at the next use.
import { randomUUID } from "node:crypto";
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK, type JWTPayload } from "jose";
import { many, one, type Pool } from "../../platform/db.js";

const ALG = "ES256";
export const ROTATE_AFTER_MS = 30 * 24 * 3600_000;
/** Retired keys stay published this long (longer than any access token lives). */
const PUBLISH_RETIRED_MS = 24 * 3600_000;
export const JWKS_MAX_AGE_S = 300;

interface ActiveKey {
  kid: string;
  key: CryptoKey | Uint8Array;
  createdAt: number;
}

export class SigningKeys {
  private active: ActiveKey | undefined;

  constructor(private readonly pool: Pool, private readonly now: () => Date) {}

  private async current(): Promise<ActiveKey> {
    const nowMs = this.now().getTime();
    if (this.active && nowMs - this.active.createdAt < ROTATE_AFTER_MS) return this.active;
    let row = await one<{ kid: string; private_jwk: JWK; create_time: Date }>(
      this.pool,
      `SELECT kid, private_jwk, create_time FROM auth.signing_keys
        WHERE retire_time IS NULL ORDER BY create_time DESC LIMIT 1`,
    );
    if (!row || nowMs - row.create_time.getTime() >= ROTATE_AFTER_MS) row = await this.rotate(row?.kid);
    this.active = { kid: row.kid, key: await importJWK(row.private_jwk, ALG), createdAt: row.create_time.getTime() };
    return this.active;
  }

  /** Creates a new signing key and retires `previousKid`. Replicas racing here each add one; harmless. */
  async rotate(previousKid?: string) {
    const { privateKey, publicKey } = await generateKeyPair(ALG, { extractable: true });
    const kid = randomUUID();
    const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: ALG };
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: ALG, use: "sig" };
    const at = this.now();
    if (previousKid) await this.pool.query(`UPDATE auth.signing_keys SET retire_time = $2 WHERE kid = $1`, [previousKid, at]);
    await this.pool.query(`INSERT INTO auth.signing_keys (kid, private_jwk, public_jwk, create_time) VALUES ($1, $2, $3, $4)`, [kid, privateJwk, publicJwk, at]);
    this.active = undefined;
    return { kid, private_jwk: privateJwk as JWK, create_time: at };
  }

  /** Signs a JWT with the current key: `typ` header, iss/aud/sub/iat/exp/jti claims. */
  async sign(claims: JWTPayload, opts: { typ: string; subject: string; issuer: string; audience: string; ttlSeconds: number }): Promise<{ token: string; expiresAt: Date }> {
    const key = await this.current();
    const iat = Math.floor(this.now().getTime() / 1000);
    const exp = iat + opts.ttlSeconds;
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: ALG, kid: key.kid, typ: opts.typ })
      .setIssuer(opts.issuer)
      .setAudience(opts.audience)
      .setSubject(opts.subject)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(randomUUID())
      .sign(key.key);
    return { token, expiresAt: new Date(exp * 1000) };
  }

  async jwks(): Promise<{ keys: JWK[] }> {
    await this.current(); // make sure a key exists before the first publication
    const cutoff = new Date(this.now().getTime() - PUBLISH_RETIRED_MS);
    const rows = await many<{ public_jwk: JWK }>(
      this.pool,
      `SELECT public_jwk FROM auth.signing_keys WHERE retire_time IS NULL OR retire_time > $1 ORDER BY create_time DESC`,
      [cutoff],
    );
    return { keys: rows.map((r) => r.public_jwk) };
  }
}
