// Retries a unary call after a passing failure (retry-policy.ts says which), with
// jittered backoff, a bounded number of attempts, and never past the call's deadline:
// each further attempt carries only what is left of it. It must run inside the
// idempotency interceptor, so every attempt of a change carries the same key.
import { ConnectError, type Interceptor, type UnaryRequest } from "@connectrpc/connect";
import { IDEMPOTENCY_HEADER, isMutating } from "./idempotency.js";
import { retryDelayMs, type RetrySettings } from "./retry-policy.js";

/** An attempt with less of the deadline left than this is not started. */
const MIN_ATTEMPT_MS = 20;
const TIMEOUT_HEADER = "grpc-timeout";
const TIMEOUT_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 1e-3, n: 1e-6 };

export interface RetryClock {
  now(): number;
  random(): number;
}

/** The grpc-timeout header (e.g. "10000m") in milliseconds; undefined without one. */
export function timeoutMsOf(header: string | null): number | undefined {
  const m = header ? /^(\d{1,8})([HMSmun])$/.exec(header) : null;
  return m ? Number(m[1]) * TIMEOUT_UNIT_MS[m[2]!]! : undefined;
}

function withTimeout(req: UnaryRequest, remainingMs: number | undefined): UnaryRequest {
  const header = new Headers(req.header);
  if (remainingMs !== undefined) header.set(TIMEOUT_HEADER, `${Math.max(1, Math.floor(remainingMs))}m`);
  return { ...req, header };
}

/** Resolves after `ms`, or rejects as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

export function retrying(settings: RetrySettings, clock: RetryClock): Interceptor {
  return (next) => async (req) => {
    if (req.stream) return await next(req);
    // A change without a key could run twice; only the idempotency interceptor's absence
    // (a client assembled by hand) leaves one here.
    if (isMutating(req.method) && !req.header.has(IDEMPOTENCY_HEADER)) return await next(req);
    const timeoutMs = timeoutMsOf(req.header.get(TIMEOUT_HEADER));
    const deadline = timeoutMs === undefined ? undefined : clock.now() + timeoutMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await next(attempt === 1 ? req : withTimeout(req, deadline === undefined ? undefined : deadline - clock.now()));
      } catch (err) {
        if (attempt >= settings.maxAttempts || req.signal.aborted) throw err;
        const waitMs = retryDelayMs(ConnectError.from(err), attempt, settings, clock.random);
        if (waitMs === undefined) throw err;
        if (deadline !== undefined && clock.now() + waitMs + MIN_ATTEMPT_MS >= deadline) throw err;
        // Cancelled or out of time while waiting: the caller gets the failure that made us wait.
        await sleep(waitMs, req.signal).catch(() => Promise.reject(err));
      }
    }
  };
}
