// Which failures are worth another attempt, and how long to wait first. Pure: the
// interceptor in retry.ts supplies the clock, the randomness and the deadline.
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema, RetryInfoSchema } from "./gen/google/rpc/error_details_pb.js";

export interface RetryOptions {
  /** Attempts per call, the first included: 1 (never retry) to 10. Default 4. */
  maxAttempts?: number;
  /** Backoff ceiling before the first retry; doubles per retry. Default 100 ms. */
  initialBackoffMs?: number;
  /** Largest backoff between two attempts. Default 2,000 ms; at most 60,000. */
  maxBackoffMs?: number;
  /** Longest RetryInfo delay the client waits out; a longer one fails the call. Default 30,000 ms. */
  maxRetryInfoWaitMs?: number;
}

export type RetrySettings = Required<RetryOptions>;

export const MAX_ATTEMPTS_LIMIT = 10;
const BACKOFF_LIMIT_MS = 60_000;

export function retrySettings(o: RetryOptions = {}): RetrySettings {
  const s: RetrySettings = {
    maxAttempts: o.maxAttempts ?? 4,
    initialBackoffMs: o.initialBackoffMs ?? 100,
    maxBackoffMs: o.maxBackoffMs ?? 2_000,
    maxRetryInfoWaitMs: o.maxRetryInfoWaitMs ?? 30_000,
  };
  if (!Number.isInteger(s.maxAttempts) || s.maxAttempts < 1 || s.maxAttempts > MAX_ATTEMPTS_LIMIT) {
    throw new RangeError(`retry.maxAttempts must be an integer from 1 to ${MAX_ATTEMPTS_LIMIT}`);
  }
  for (const [name, v] of [["initialBackoffMs", s.initialBackoffMs], ["maxBackoffMs", s.maxBackoffMs], ["maxRetryInfoWaitMs", s.maxRetryInfoWaitMs]] as const) {
    if (!Number.isFinite(v) || v < 0 || v > BACKOFF_LIMIT_MS) throw new RangeError(`retry.${name} must be from 0 to ${BACKOFF_LIMIT_MS} ms`);
  }
  return s;
}

/**
 * ABORTED reasons that mean "not now" rather than "no": the same key is still running on
 * the server, or the database aborted a transaction that lost a race. Any other ABORTED
 * (VERSION_MISMATCH above all) needs the caller to read again and decide.
 */
const RETRYABLE_ABORTS = new Set(["IDEMPOTENCY_KEY_IN_PROGRESS", "TRANSACTION_CONFLICT"]);

/**
 * How long to wait before attempt `attempt + 1` after `err` ended attempt `attempt`, or
 * undefined when the failure is final. Retrying is safe only because a call that changes
 * state carries the same idempotency key on every attempt (and reads change nothing).
 * Backoff has full jitter: uniform in [0, min(max, initial × 2^(attempt−1))].
 */
export function retryDelayMs(err: ConnectError, attempt: number, s: RetrySettings, random: () => number): number | undefined {
  const backoff = () => random() * Math.min(s.maxBackoffMs, s.initialBackoffMs * 2 ** (attempt - 1));
  switch (err.code) {
    case Code.Unavailable:
    case Code.DeadlineExceeded:
      return backoff();
    case Code.Aborted: {
      const reason = err.findDetails(ErrorInfoSchema)[0]?.reason ?? "";
      return RETRYABLE_ABORTS.has(reason) ? backoff() : undefined;
    }
    case Code.ResourceExhausted: {
      // A quota without RetryInfo will not lift by itself soon: give the caller the error.
      const delay = err.findDetails(RetryInfoSchema)[0]?.retryDelay;
      if (!delay) return undefined;
      const ms = Number(delay.seconds) * 1000 + delay.nanos / 1e6;
      return ms <= s.maxRetryInfoWaitMs ? ms + random() * s.initialBackoffMs : undefined;
    }
    default:
      return undefined;
  }
}
