// TransactionService settings from the environment, validated when the service starts
// (a bad value stops the start and names the variable).
import { envInt } from "../../platform/config.js";
import { log } from "../../platform/logger.js";

export interface TransactionSettings {
  /** Default QR lifetime (TRANSACTION_QR_TTL_SECONDS, 30–900, default 300). */
  qrTtlSeconds: number;
  /** QR codes a driver may issue per minute (TRANSACTION_QR_PER_MINUTE, default 20). */
  qrPerMinute: number;
  /** Recovery sweeper period (TRANSACTION_SWEEP_MS, default 5000; 0 = off). */
  sweepMs: number;
  /**
   * How long an unfinished step is left to the request that started it before the sweeper
   * finishes it: MAX_DEADLINE_MS, since no request runs longer (its hops carry what
   * remains of its deadline). Nothing longer is needed for safety — every step is keyed
   * by the transaction id, so a step the sweeper and a late request both run moves money
   * once — so a half-done sale rests within recoveryGraceMs + sweepMs of its step's start
   * (35 s with the defaults), the recovery bound transaction.proto documents.
   */
  recoveryGraceMs: number;
}

export function settingsFromEnv(maxDeadlineMs: number, env: Record<string, string | undefined> = process.env): TransactionSettings {
  const int = (name: string, def: number, min: number, max: number) => envInt(env, name, def, min, max);
  // A misspelt test hook stops the start instead of quietly never firing.
  armed ??= arm();
  return {
    qrTtlSeconds: int("TRANSACTION_QR_TTL_SECONDS", 300, 30, 900),
    qrPerMinute: int("TRANSACTION_QR_PER_MINUTE", 20, 1, 10_000),
    sweepMs: int("TRANSACTION_SWEEP_MS", 5_000, 0, 3_600_000),
    recoveryGraceMs: maxDeadlineMs,
  };
}

/** Named points between two steps, where the crash tests kill the process. */
export const CRASH_POINTS = [
  "after-authorize-intent", // Authorize's intent (PENDING) committed, hold not asked for
  "after-hold", // CreditService placed the hold, the transaction has not recorded it
  "after-settle-intent", // Settle's intent (CAPTURING) committed, capture not asked for
  "after-capture", // CreditService captured, the transaction has not recorded it
  "after-capture-record", // CAPTURED recorded, the loan not asked for
  "after-loan", // LoanService created the loan, SETTLED not recorded
  "after-void-intent", // Void's intent (VOIDING) committed, void not asked for
  "after-void", // CreditService voided the hold, the transaction has not recorded it
] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

/** How long the first call to reach a gathering point waits for the others before the kill. */
const CRASH_GATHER_MAX_MS = 30_000;

interface Armed {
  want: Map<CrashPoint, number>;
  reached: Map<CrashPoint, number>;
  deadline: NodeJS.Timeout | null;
}
let armed: Armed | null | undefined;

function arm(): Armed | null {
  const spec = process.env.TRANSACTION_CRASH_AT;
  if (!spec || process.env.NODE_ENV === "production") return null;
  const want = new Map<CrashPoint, number>();
  for (const part of spec.split(",")) {
    const [name, n] = part.trim().split("*");
    if (!(CRASH_POINTS as readonly string[]).includes(name!)) throw new Error(`TRANSACTION_CRASH_AT: unknown point ${name}`);
    want.set(name as CrashPoint, n ? Math.max(1, Number(n)) : 1);
  }
  return { want, reached: new Map(), deadline: null };
}

function die(point: CrashPoint): void {
  log.warn({ point }, "TRANSACTION_CRASH_AT: killing this process");
  process.kill(process.pid, "SIGKILL");
}

/**
 * Test hook: TRANSACTION_CRASH_AT lists points, each `point` or `point*N` (N calls; 1 if
 * omitted); never honoured in production. A call that reaches a listed point stops there
 * for good, until N calls have stopped at it (later ones pass through); once every listed
 * point holds its calls, the process kills itself with SIGKILL — no cleanup, no graceful
 * anything — exactly as a crashed or OOM-killed container would stop. One kill can thus
 * leave several sales half-done, each at a known point. A call stopping logs a warning
 * (`point`, `n`) for the test to wait on. Resolves at once when no point is armed.
 */
export function crashPoint(point: CrashPoint): Promise<void> | undefined {
  if (armed === undefined) armed = arm();
  const a = armed;
  const want = a?.want.get(point);
  if (!a || want === undefined) return undefined;
  const n = (a.reached.get(point) ?? 0) + 1;
  if (n > want) return undefined;
  a.reached.set(point, n);
  log.warn({ point, n }, "TRANSACTION_CRASH_AT: a call stopped here");
  if ([...a.want].every(([p, w]) => (a.reached.get(p) ?? 0) >= w)) die(point);
  a.deadline ??= setTimeout(() => die(point), CRASH_GATHER_MAX_MS);
  return new Promise<void>(() => undefined);
}
