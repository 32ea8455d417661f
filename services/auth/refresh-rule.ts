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
  /** When it was first spent; null while unspent. */
  spentTime: Date | null;
}

/** The token that replaced a spent one, as far as the decision needs it. */
export interface SuccessorRow {
  spent: boolean;
  revoked: boolean;
}

export type RefreshDecision =
  /** Unknown, revoked or expired: REFRESH_TOKEN_INVALID. */
  | "invalid"
  /** Already spent: a copy is in someone else's hands; revoke the family. */
  | "reused"
  /** The user was disabled: USER_DISABLED. */
  | "disabled"
  /** Spend this one and issue its successor in the same family. */
  | "rotate"
  /**
   * Spent moments ago and its successor never used: the caller most likely lost the
   * answer and is retrying. Retire the unused successor and issue another.
   */
  | "retry";

/**
 * `graceMs` is how long after a token is spent a second presentation counts as a retry
 * rather than a theft; 0 turns retries off. The successor must be unused: once it has
 * been presented, the old token in anyone's hands is a copy.
 */
export function refreshDecision(
  row: RefreshRow | undefined,
  userActive: boolean,
  now: Date,
  successor?: SuccessorRow,
  graceMs = 0,
): RefreshDecision {
  if (!row) return "invalid";
  // A disabled user's tokens are revoked too; say why rather than "invalid".
  if (!userActive) return "disabled";
  if (row.revoked) return "invalid";
  const expired = row.expireTime.getTime() <= now.getTime();
  if (row.spent) {
    const sinceSpentMs = row.spentTime ? now.getTime() - row.spentTime.getTime() : Infinity;
    const unusedSuccessor = successor !== undefined && !successor.spent && !successor.revoked;
    return unusedSuccessor && !expired && sinceSpentMs >= 0 && sinceSpentMs < graceMs ? "retry" : "reused";
  }
  return expired ? "invalid" : "rotate";
}
