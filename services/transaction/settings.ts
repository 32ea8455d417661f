// TransactionService settings from the environment, validated when the service starts
// (a bad value stops the start and names the variable).
import { ConfigError, readInt, type Setting } from "../../platform/config.js";
import { log } from "../../platform/logger.js";

type Env = Readonly<Record<string, string | undefined>>;

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
  /** The TRANSACTION_CRASH_AT test hook, armed for this instance (crashHook); passes every call when unset. */
  crashPoint: CrashHook;
}

export function settingsFromEnv(maxDeadlineMs: number, env: Env = process.env): TransactionSettings {
  const problems: string[] = [];
  const noted = <T>(r: Setting<T>): T => {
    if (r.problem) problems.push(r.problem);
    return r.value;
  };
  const int = (name: string, def: number, min: number, max: number) => noted(readInt(env, name, def, min, max));
  const settings: TransactionSettings = {
    qrTtlSeconds: int("TRANSACTION_QR_TTL_SECONDS", 300, 30, 900),
    qrPerMinute: int("TRANSACTION_QR_PER_MINUTE", 20, 1, 10_000),
    sweepMs: int("TRANSACTION_SWEEP_MS", 5_000, 0, 3_600_000),
    recoveryGraceMs: maxDeadlineMs,
    crashPoint: crashHook(noted(readCrashPlan(env))),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return settings;
}

/** Named points between two steps, where the crash tests kill the process. */
export const CRASH_POINTS = [
  "after-authorize-intent", // Authorize's intent (PENDING) committed, hold not asked for
  "after-hold", // CreditService placed the hold, the transaction has not recorded it
  "after-settle-intent", // Settle's intent (CAPTURING) committed, capture not asked for
  "after-capture", // CreditService captured, the transaction has not recorded it
  "after-loan", // LoanService created the loan, SETTLED not recorded
  "after-void-intent", // Void's intent (VOIDING) committed, void not asked for
  "after-void", // CreditService voided the hold, the transaction has not recorded it
] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

/** How many calls to stop at each listed point; empty = the hook is off. */
type CrashPlan = ReadonlyMap<CrashPoint, number>;

/** Where a call may be stopped for the crash tests; resolves at once (undefined) unless it is stopped for good. */
export type CrashHook = (point: CrashPoint) => Promise<void> | undefined;

/** How long the first call to reach a gathering point waits for the others before the kill. */
const CRASH_GATHER_MAX_MS = 30_000;

/**
 * TRANSACTION_CRASH_AT: points, each `point` or `point*N` (N calls, a positive integer; 1 if
 * omitted). Never honoured in production. A misspelt point stops the start instead of
 * quietly never firing.
 */
function readCrashPlan(env: Env): Setting<CrashPlan> {
  const plan = new Map<CrashPoint, number>();
  const spec = env.TRANSACTION_CRASH_AT;
  if (!spec || env.NODE_ENV === "production") return { value: plan };
  for (const part of spec.split(",")) {
    const [name, n] = part.trim().split("*");
    if (!(CRASH_POINTS as readonly string[]).includes(name!)) return { value: new Map(), problem: `TRANSACTION_CRASH_AT: unknown point ${name}` };
    const calls = n === undefined ? 1 : Number(n);
    if (!Number.isInteger(calls) || calls < 1) return { value: new Map(), problem: `TRANSACTION_CRASH_AT: ${name}*${n} must name a positive number of calls` };
    plan.set(name as CrashPoint, calls);
  }
  return { value: plan };
}

function die(point: CrashPoint): void {
  log.warn({ point }, "TRANSACTION_CRASH_AT: killing this process");
  process.kill(process.pid, "SIGKILL");
}

/**
 * The test hook of one instance, armed with `plan`. A call that reaches a listed point
 * stops there for good, until N calls have stopped at it (later ones pass through); once
 * every listed point holds its calls, the process kills itself with SIGKILL — no cleanup,
 * no graceful anything — exactly as a crashed or OOM-killed container would stop. One kill
 * can thus leave several sales half-done, each at a known point. A call stopping logs a
 * warning (`point`, `n`) for the test to wait on.
 */
function crashHook(plan: CrashPlan): CrashHook {
  if (plan.size === 0) return () => undefined;
  const reached = new Map<CrashPoint, number>();
  let deadline: NodeJS.Timeout | null = null;
  return (point) => {
    const want = plan.get(point);
    if (want === undefined) return undefined;
    const n = (reached.get(point) ?? 0) + 1;
    if (n > want) return undefined;
    reached.set(point, n);
    log.warn({ point, n }, "TRANSACTION_CRASH_AT: a call stopped here");
    if ([...plan].every(([p, w]) => (reached.get(p) ?? 0) >= w)) die(point);
    deadline ??= setTimeout(() => die(point), CRASH_GATHER_MAX_MS);
    return new Promise<void>(() => undefined);
  };
}
