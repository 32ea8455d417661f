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
   * How long an unfinished step is left to the request that started it before the
   * sweeper finishes it (TRANSACTION_RECOVERY_GRACE_MS, default 60000; longer than any hop).
   */
  recoveryGraceMs: number;
}

export function settingsFromEnv(env: Record<string, string | undefined> = process.env): TransactionSettings {
  const int = (name: string, def: number, min: number, max: number) => envInt(env, name, def, min, max);
  return {
    qrTtlSeconds: int("TRANSACTION_QR_TTL_SECONDS", 300, 30, 900),
    qrPerMinute: int("TRANSACTION_QR_PER_MINUTE", 20, 1, 10_000),
    sweepMs: int("TRANSACTION_SWEEP_MS", 5_000, 0, 3_600_000),
    recoveryGraceMs: int("TRANSACTION_RECOVERY_GRACE_MS", 60_000, 0, 3_600_000),
  };
}

/** Named points between two steps, where the crash tests kill the process. */
export type CrashPoint = "after-hold" | "after-capture" | "after-void";

/**
 * Test hook: with TRANSACTION_CRASH_AT=<point> (never honoured in production) the process
 * kills itself with SIGKILL at that point — no cleanup, no graceful anything — exactly as
 * a crashed or OOM-killed container would stop.
 */
export function crashPoint(point: CrashPoint): void {
  const want = process.env.TRANSACTION_CRASH_AT;
  if (!want || process.env.NODE_ENV === "production") return;
  if (want.split(",").includes(point)) {
    log.warn({ point }, "TRANSACTION_CRASH_AT: killing this process");
    process.kill(process.pid, "SIGKILL");
  }
}
