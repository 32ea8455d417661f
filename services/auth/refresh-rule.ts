// Pure rules for refresh tokens: opaque 256-bit random values, stored only as SHA-256,
// rotating within a family. What to do with a presented token is decided here.
import { createHash, randomBytes } from "node:crypto";

export function newRefreshToken(): string {
  return randomBytes(32).toString("base64url");
}

export function hashRefreshToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export interface RefreshRow {
  spent: boolean;
  revoked: boolean;
  expireTime: Date;
}

export type RefreshDecision =
  /** Unknown, revoked or expired: REFRESH_TOKEN_INVALID. */
  | "invalid"
  /** Already spent: a copy is in someone else's hands; revoke the family. */
  | "reused"
  /** The user was disabled: USER_DISABLED. */
  | "disabled"
  /** Spend this one and issue its successor in the same family. */
  | "rotate";

export function refreshDecision(row: RefreshRow | undefined, userActive: boolean, now: Date): RefreshDecision {
  if (!row) return "invalid";
  // A disabled user's tokens are revoked too; say why rather than "invalid".
  if (!userActive) return "disabled";
  if (row.revoked) return "invalid";
  if (row.spent) return "reused";
  if (row.expireTime.getTime() <= now.getTime()) return "invalid";
  return "rotate";
}
