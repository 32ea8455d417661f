// Sessions: ES256 access tokens (≤ 15 min, typ at+jwt, claims the platform verifier
// expects) and rotating refresh tokens (opaque, stored as SHA-256, one family per login;
// presenting a spent token revokes the family, unless it is a prompt retry of a refresh
// whose answer was lost). RefreshSession and RevokeSession.
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  RefreshSessionResponseSchema,
  RevokeSessionResponseSchema,
  SessionSchema,
  type RefreshSessionRequest,
  type RevokeSessionRequest,
  type Session,
} from "../../gen/fuel/auth/v1/auth_pb.js";
import type { Principal } from "../../platform/context.js";
import { withTx, type Pool, type Tx } from "../../platform/db.js";
import { invalidArgument, unauthenticated } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import { ACCESS_TOKEN_TYP, claimsFromPrincipal } from "../../platform/tokens.js";
import { principalMsg, principalOfUser } from "./convert.js";
import type { SigningKeys } from "./keys.js";
import { hashRefreshToken, newRefreshToken, refreshDecision } from "./refresh-rule.js";
import type { AuthSettings } from "./settings.js";
import * as store from "./store.js";

/** Refresh tokens are 43 base64url characters; anything much longer is not one of ours. */
const MAX_REFRESH_TOKEN_LENGTH = 512;

export interface PreparedSession {
  principal: Principal;
  access: { token: string; expiresAt: Date };
  refresh: string;
  refreshExpiresAt: Date;
}

export function sessionMsg(s: PreparedSession): Session {
  return create(SessionSchema, {
    accessToken: s.access.token,
    accessTokenExpiresAt: timestampFromDate(s.access.expiresAt),
    refreshToken: s.refresh,
    refreshTokenExpiresAt: timestampFromDate(s.refreshExpiresAt),
    principal: principalMsg(s.principal),
  });
}

export class Sessions {
  constructor(private readonly deps: ServiceDeps, private readonly settings: AuthSettings, private readonly keys: SigningKeys) {}

  /** A signed access token for `p`. */
  async accessToken(p: Principal): Promise<{ token: string; expiresAt: Date }> {
    const { cfg } = this.deps;
    return await this.keys.sign({ ...claimsFromPrincipal(p) }, {
      typ: ACCESS_TOKEN_TYP,
      subject: p.subjectId,
      issuer: cfg.jwtIssuer,
      audience: cfg.jwtAudience,
      ttlSeconds: Math.min(this.settings.accessTokenTtlSeconds, 900),
    });
  }

  /**
   * Signs the access token and draws the refresh token of a new session for `p`, before
   * any transaction opens (signing may touch auth.signing_keys; the embedded database has
   * one shared session, so nothing else may run inside a caller's transaction).
   */
  async prepare(p: Principal): Promise<PreparedSession> {
    const now = this.deps.now();
    const access = await this.accessToken(p);
    return {
      principal: p,
      access,
      refresh: newRefreshToken(),
      refreshExpiresAt: new Date(now.getTime() + this.settings.refreshTokenTtlSeconds * 1000),
    };
  }

  /** Stores the refresh token of a prepared session as a new family. */
  async persist(db: Pool | Tx, s: PreparedSession): Promise<void> {
    await store.insertRefreshToken(db, {
      hash: hashRefreshToken(s.refresh),
      familyId: randomUUID(),
      userId: s.principal.subjectId,
      expireTime: s.refreshExpiresAt,
      createTime: this.deps.now(),
    });
  }

  /** Opens a new session family for `user`. */
  async open(user: store.UserRow): Promise<Session> {
    const s = await this.prepare(principalOfUser(user));
    await this.persist(this.deps.pool, s);
    return sessionMsg(s);
  }

  /**
   * Spends `token` and returns the next session of its family. A token presented again
   * soon after it was spent, while its successor is still unused, is taken for a retry
   * of a refresh whose answer was lost: the unused successor is retired and another
   * issued, so the family still has one live token. Retired means spent, not revoked:
   * if the retry came from a thief, the owner's next refresh presents the retired token,
   * which is a reuse and revokes the family.
   */
  async refresh(token: string): Promise<Session> {
    const hash = hashRefreshToken(token);
    const now = this.deps.now();
    const graceMs = this.settings.refreshRetryGraceSeconds * 1000;
    const outcome = await withTx(this.deps.pool, async (tx) => {
      const row = await store.refreshTokenForUpdate(tx, hash);
      const user = row ? await store.userById(tx, row.user_id) : undefined;
      const successor = row?.spent ? await store.successorForUpdate(tx, hash) : undefined;
      const decision = refreshDecision(
        row && { spent: row.spent, revoked: row.revoked, expireTime: row.expire_time, spentTime: row.spent_time },
        !!user?.active,
        now,
        successor,
        graceMs,
      );
      if (decision === "reused" || decision === "disabled") {
        // Committed before the error goes out: a replayed token kills its whole family.
        await store.revokeFamily(tx, row!.family_id);
        return { decision } as const;
      }
      if (decision === "invalid") return { decision } as const;
      await store.spendRefreshToken(tx, decision === "retry" ? successor!.token_hash : hash, now);
      const next = newRefreshToken();
      // The family keeps its absolute expiry: rotation never extends a login.
      await store.insertRefreshToken(tx, {
        hash: hashRefreshToken(next),
        familyId: row!.family_id,
        userId: row!.user_id,
        expireTime: row!.expire_time,
        createTime: now,
        parentHash: hash,
      });
      return { decision, user: user!, next, expiresAt: row!.expire_time } as const;
    });
    switch (outcome.decision) {
      case "reused":
        throw unauthenticated("REFRESH_TOKEN_REUSED", "refresh token was already used; the session has been revoked");
      case "disabled":
        throw unauthenticated("USER_DISABLED", "user is disabled");
      case "invalid":
        throw unauthenticated("REFRESH_TOKEN_INVALID", "refresh token invalid or expired");
      default:
        return sessionMsg({
          principal: principalOfUser(outcome.user),
          access: await this.accessToken(principalOfUser(outcome.user)),
          refresh: outcome.next,
          refreshExpiresAt: outcome.expiresAt,
        });
    }
  }

  async revoke(token: string): Promise<void> {
    await store.revokeFamilyOfToken(this.deps.pool, hashRefreshToken(token));
  }
}

function refreshTokenField(value: string): string {
  if (value === "") throw invalidArgument("refresh_token", "is required");
  if (value.length > MAX_REFRESH_TOKEN_LENGTH) throw invalidArgument("refresh_token", `must be at most ${MAX_REFRESH_TOKEN_LENGTH} characters`);
  return value;
}

export const refreshSession = (sessions: Sessions) => async (req: RefreshSessionRequest) => {
  const token = refreshTokenField(req.refreshToken);
  return create(RefreshSessionResponseSchema, { session: await sessions.refresh(token) });
};

export const revokeSession = (sessions: Sessions) => async (req: RevokeSessionRequest) => {
  await sessions.revoke(refreshTokenField(req.refreshToken));
  return create(RevokeSessionResponseSchema);
};
