// The machine-readable reasons the clearinghouse puts in google.rpc.ErrorInfo, as one
// string union so a bank's code can switch on them with the compiler's help: the ones
// every contract names (generated from proto/), and the platform's own, which any
// method may answer. A newer server may send a reason this list does not know yet;
// FuelReason keeps `string` open for it.
import { CONTRACT_REASONS } from "./gen/contract_reasons.js";

/** Reasons any method may answer: credentials, roles, input, idempotency, infrastructure. */
const PLATFORM_REASONS = [
  // UNAUTHENTICATED / PERMISSION_DENIED
  "CREDENTIALS_REQUIRED",
  "TOKEN_EXPIRED",
  "TOKEN_INVALID",
  "USER_DISABLED",
  "ROLE_NOT_ALLOWED",
  "INTERNAL_METHOD",
  // INVALID_ARGUMENT
  "INVALID_FIELD",
  "IDEMPOTENCY_KEY_INVALID",
  // ABORTED: safe to retry with the same idempotency key
  "TRANSACTION_CONFLICT",
  // RESOURCE_EXHAUSTED
  "RATE_LIMITED",
  // UNAVAILABLE: safe to retry with the same idempotency key
  "IDEMPOTENCY_STORE_UNAVAILABLE",
  "DATABASE_UNAVAILABLE",
  "DATABASE_TIMEOUT",
  "STORE_UNAVAILABLE",
  "CONNECTION_FAILED",
  // NOT_FOUND of an object the caller may not see, or that does not exist
  "NOT_FOUND",
  "LOAN_NOT_FOUND",
  "PAYMENT_NOT_FOUND",
  "TRANSACTION_NOT_FOUND",
  // PERMISSION_DENIED from the credit and loan services that their contracts do not name
  "BANK_REQUIRED",
  "LINE_CHANGE_NOT_ALLOWED",
  "ROOT_LINE_BANK_ONLY",
] as const;

/**
 * A failure without an ErrorInfo (the call's own deadline, a connection that never
 * opened) gets its code's name as its reason, as the server names its own.
 */
const CODE_REASONS = ["CANCELED", "UNKNOWN", "DEADLINE_EXCEEDED", "UNAVAILABLE", "INTERNAL", "UNIMPLEMENTED"] as const;

/** A reason this version of the client knows by name. */
export type KnownReason = (typeof PLATFORM_REASONS)[number] | (typeof CODE_REASONS)[number] | (typeof CONTRACT_REASONS)[number];

/** The reason of an error: a known one, or any other string a newer server sends. */
// `string & {}` keeps editors suggesting the known names instead of collapsing to string.
export type FuelReason = KnownReason | (string & {});

export const KNOWN_REASONS: readonly KnownReason[] = [...new Set<KnownReason>([...PLATFORM_REASONS, ...CODE_REASONS, ...CONTRACT_REASONS])];

const known: ReadonlySet<string> = new Set(KNOWN_REASONS);

export function isKnownReason(reason: string): reason is KnownReason {
  return known.has(reason);
}
