// The rules of every outbox, apart from its I/O: when a failed row is tried again, when
// it is given up on, how a thrown call error reads, and which settings are allowed.
import { Code, ConnectError } from "@connectrpc/connect";

export interface Backoff {
  baseBackoffMs: number;
  maxBackoffMs: number;
  /** Growth per further failure (default 2). */
  factor?: number;
  /** Fraction of the delay that jitter may take away: 0 = none, 1 = all (default 0.5). */
  jitter?: number;
}

/**
 * Delay before retry number `attempts` (1-based): exponential, capped, and shortened by
 * up to `jitter` of itself (`rand` = 1 keeps it whole). Pure but for `rand`.
 */
export function backoffMs(attempts: number, o: Backoff, rand: () => number = Math.random): number {
  const factor = o.factor ?? 2;
  const jitter = o.jitter ?? 0.5;
  const exp = Math.min(o.maxBackoffMs, o.baseBackoffMs * factor ** Math.min(30, Math.max(0, attempts - 1)));
  const r = Math.min(Math.max(rand(), 0), 1);
  return Math.max(0, Math.round(exp * (1 - jitter * (1 - r))));
}

/** What went wrong with one delivery attempt. */
export interface Failure {
  /** Short text stored on the row (bounded by ERROR_MAX_CHARS). */
  error: string;
  /** Retrying the same call cannot succeed. */
  permanent: boolean;
}

export const ERROR_MAX_CHARS = 500;

/** Answers that will not change when the same request is sent again. */
export const PERMANENT_CODES: ReadonlySet<Code> = new Set([
  Code.InvalidArgument,
  Code.NotFound,
  Code.AlreadyExists,
  Code.PermissionDenied,
  Code.Unauthenticated,
  Code.FailedPrecondition,
  Code.OutOfRange,
]);

/** A thrown call error as a Failure: permanent when its code is in `permanent`. */
export function connectFailure(err: unknown, permanent: ReadonlySet<Code> = PERMANENT_CODES): Failure {
  const ce = ConnectError.from(err);
  return { error: `${Code[ce.code]}: ${ce.rawMessage}`.slice(0, ERROR_MAX_CHARS), permanent: permanent.has(ce.code) };
}

export interface GiveUpPolicy {
  /** Attempts in all (the first included); Infinity = never give up for attempts. */
  maxAttempts: number;
  /** False for rows that must be retried until delivered, whatever the answer. */
  mayGiveUp: boolean;
}

export type Verdict = { outcome: "delivered" } | { outcome: "retry"; delayMs: number } | { outcome: "dead" };

/** What becomes of a row after attempt number `attempts` (1-based) ended as `failure` (null = delivered). */
export function verdict(failure: Failure | null, attempts: number, policy: GiveUpPolicy, backoff: Backoff, rand?: () => number): Verdict {
  if (!failure) return { outcome: "delivered" };
  if (policy.mayGiveUp && (failure.permanent || attempts >= policy.maxAttempts)) return { outcome: "dead" };
  return { outcome: "retry", delayMs: backoffMs(attempts, backoff, rand) };
}

/** A claimed row whose attempt number is past the last: its last attempt was interrupted (the claimer died). */
export const isInterrupted = (attempts: number, policy: GiveUpPolicy): boolean => policy.mayGiveUp && attempts > policy.maxAttempts;

export interface OutboxOptions extends Required<Backoff> {
  /** Sleep between passes that found less than a full batch (a wake() cuts it short). */
  pollMs: number;
  /** Rows claimed by one pass. */
  batchSize: number;
  /** Deliveries in flight at once. */
  concurrency: number;
  /** How long a claimed row is reserved before another claimer may take it; must exceed any delivery's time limit. */
  leaseMs: number;
  maxAttempts: number;
  /** From this attempt on, a failure is logged as an error (retries go on). */
  alertAfterAttempts: number;
}

export const DEFAULT_OUTBOX_OPTIONS: OutboxOptions = {
  pollMs: 200,
  batchSize: 20,
  concurrency: 20,
  leaseMs: 30_000,
  maxAttempts: 20,
  baseBackoffMs: 500,
  maxBackoffMs: 5 * 60_000,
  factor: 2,
  jitter: 0.5,
  alertAfterAttempts: 10,
};

export const BATCH_MAX = 500;

/** Settings with defaults filled in; a bad one fails at start, loudly, rather than looping. */
export function outboxOptions(o: Partial<OutboxOptions>): OutboxOptions {
  const batchSize = o.batchSize ?? DEFAULT_OUTBOX_OPTIONS.batchSize;
  const r: OutboxOptions = { ...DEFAULT_OUTBOX_OPTIONS, concurrency: Math.min(batchSize, DEFAULT_OUTBOX_OPTIONS.concurrency), ...o };
  const problems: string[] = [];
  const int = (name: keyof OutboxOptions, min: number, max: number) => {
    const v = r[name];
    if (!Number.isInteger(v) || v < min || v > max) problems.push(`${name} must be an integer from ${min} to ${max}`);
  };
  int("pollMs", 1, 3_600_000);
  int("batchSize", 1, BATCH_MAX);
  int("concurrency", 1, r.batchSize);
  int("leaseMs", 100, 24 * 3_600_000);
  int("baseBackoffMs", 1, 24 * 3_600_000);
  if (!(r.maxBackoffMs >= r.baseBackoffMs && r.maxBackoffMs <= 7 * 24 * 3_600_000)) problems.push("maxBackoffMs must be from baseBackoffMs to 7 days");
  if (!(r.factor >= 1 && r.factor <= 10)) problems.push("factor must be from 1 to 10");
  if (!(r.jitter >= 0 && r.jitter <= 1)) problems.push("jitter must be from 0 to 1");
  if (!(r.maxAttempts === Infinity || (Number.isInteger(r.maxAttempts) && r.maxAttempts >= 1))) problems.push("maxAttempts must be an integer ≥ 1 or Infinity");
  if (!(r.alertAfterAttempts >= 1)) problems.push("alertAfterAttempts must be ≥ 1");
  if (problems.length) throw new Error(`invalid outbox options: ${problems.join("; ")}`);
  return r;
}
