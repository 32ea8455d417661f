// When the next delivery attempt is due: exponential backoff with jitter, capped, and a
// fixed maximum number of attempts. Pure: the random source is passed in.
import { backoffMs, type Backoff } from "../../platform/outbox-rules.js";

export interface RetryPolicy {
  /** Attempts in all (the first one included); after the last failure the delivery is FAILED. */
  maxAttempts: number;
  /** Delay after the first failed attempt, before jitter (ms). */
  baseDelayMs: number;
  /** Growth per further failure. */
  factor: number;
  /** Upper bound of any delay, before jitter (ms). */
  maxDelayMs: number;
  /** Fraction of the delay that is randomised away: 0 = none, 1 = "full jitter". */
  jitter: number;
}

/** 1 s, 3 s, 9 s, 27 s, 81 s, ~4 min, ~12 min (−25 % jitter): about 18 minutes in all. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 8,
  baseDelayMs: 1_000,
  factor: 3,
  maxDelayMs: 15 * 60_000,
  jitter: 0.25,
};

/** The policy's delays as the outbox's backoff settings (platform/outbox-rules.ts). */
export function retryBackoff(p: RetryPolicy): Required<Backoff> {
  return { baseBackoffMs: p.baseDelayMs, maxBackoffMs: p.maxDelayMs, factor: p.factor, jitter: p.jitter };
}

/**
 * The delay before the next attempt after `attemptsMade` failed attempts (≥ 1), or null
 * when no attempt is left. `random` returns a number in [0, 1); 0 = no jitter.
 */
export function nextRetryDelayMs(attemptsMade: number, policy: RetryPolicy = DEFAULT_RETRY_POLICY, random: () => number = Math.random): number | null {
  if (!Number.isInteger(attemptsMade) || attemptsMade < 1) throw new RangeError("attemptsMade must be a positive integer");
  if (attemptsMade >= policy.maxAttempts) return null;
  return backoffMs(attemptsMade, retryBackoff(policy), () => 1 - random());
}

/** Checks a policy at start, so a bad override fails loudly rather than looping. */
export function validateRetryPolicy(p: RetryPolicy): RetryPolicy {
  const problems: string[] = [];
  if (!Number.isInteger(p.maxAttempts) || p.maxAttempts < 1) problems.push("maxAttempts must be an integer ≥ 1");
  if (!(p.baseDelayMs >= 0)) problems.push("baseDelayMs must be ≥ 0");
  if (!(p.factor >= 1)) problems.push("factor must be ≥ 1");
  if (!(p.maxDelayMs >= p.baseDelayMs)) problems.push("maxDelayMs must be ≥ baseDelayMs");
  if (!(p.jitter >= 0 && p.jitter <= 1)) problems.push("jitter must be from 0 to 1");
  if (problems.length) throw new Error(`invalid retry policy: ${problems.join("; ")}`);
  return p;
}
