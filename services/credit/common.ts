// Helpers shared by the CreditService handlers: money input, the Postgres idempotency
// guard around money transactions, settings, and errors used in several places.
import { envInt } from "../../platform/config.js";
import { type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { Code, type HandlerContext } from "@connectrpc/connect";
import type { Money } from "../../gen/fuel/common/v1/common_pb.js";
import { type Tx } from "../../platform/db.js";
import { rpcError } from "../../platform/errors.js";
import { guardedTx as pgGuardedTx, priorResponse as pgPriorResponse } from "../../platform/pg-guard.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { moneyIn as readMoney } from "../../platform/money.js";
import { DEFAULT_BATCH_LIMITS, type BatchLimits } from "./hold-batch.js";

export const IDEMPOTENCY_TABLE = "credit.idempotency_keys";

/** A Money field: present, in `currency` (when given), amount ≥ `min` (platform/money.ts reads it). */
export function moneyIn(field: string, m: Money | undefined, opts: { currency?: string; min?: bigint } = {}): { amount: bigint; currency: string } {
  const a = readMoney(field, m, opts);
  return { amount: a.amountMinor, currency: a.currency };
}

export const versionMismatch = (current?: bigint) =>
  rpcError(Code.Aborted, "VERSION_MISMATCH", "the object changed since you read it; read it again and retry", current === undefined ? {} : { current_version: current.toString() });

/** One money change under the Postgres idempotency guard (platform/pg-guard.ts). */
export const guardedTx = <S extends DescMessage>(deps: ServiceDeps, ctx: HandlerContext, schema: S, fn: (tx: Tx) => Promise<MessageShape<S>>) =>
  pgGuardedTx(deps.pool, IDEMPOTENCY_TABLE, ctx, schema, fn);

/** The stored result of an earlier, finished run of this key (platform/pg-guard.ts). */
export const priorResponse = <S extends DescMessage>(deps: ServiceDeps, ctx: HandlerContext, schema: S) =>
  pgPriorResponse(deps.pool, IDEMPOTENCY_TABLE, ctx, schema);

export const reasonText = (field: string, value: string) => v.text(field, value, 1, 500);

/** Service settings (environment; validated when the module loads). */
export interface CreditSettings {
  defaultHoldTtlSeconds: number;
  expirySweepMs: number;
  expiryBatch: number;
  /** Loans asked of LoanService per page when a risk assessment reads a history. */
  riskHistoryPageSize: number;
  /** The longest loan history a risk assessment reads; a longer one is refused, never cut. */
  riskHistoryMaxLoans: number;
  /** Time from the end of one ledger audit to the start of the next (0 = no audits). */
  ledgerAuditIntervalMs: number;
  /** Credit lines the ledger audit checks per transaction. */
  ledgerAuditChunkLines: number;
  /** Holds on one agency line written by one statement, and how many may wait for it (hold-batch.ts). */
  holdBatch: BatchLimits;
}

export function settingsFromEnv(env: Record<string, string | undefined> = process.env): CreditSettings {
  const int = (name: string, def: number, min: number, max: number) => envInt(env, name, def, min, max);
  return {
    defaultHoldTtlSeconds: int("CREDIT_HOLD_TTL_SECONDS", 3600, 60, 86400),
    expirySweepMs: int("CREDIT_EXPIRY_SWEEP_MS", 30_000, 100, 3_600_000),
    expiryBatch: int("CREDIT_EXPIRY_BATCH", 500, 1, 5000),
    riskHistoryPageSize: int("CREDIT_RISK_HISTORY_PAGE_SIZE", 200, 1, 200),
    riskHistoryMaxLoans: int("CREDIT_RISK_HISTORY_MAX_LOANS", 20_000, 1, 1_000_000),
    ledgerAuditIntervalMs: int("LEDGER_AUDIT_INTERVAL_MS", 60_000, 0, 86_400_000),
    ledgerAuditChunkLines: int("LEDGER_AUDIT_CHUNK_LINES", 500, 1, 1000),
    holdBatch: {
      maxBatch: int("CREDIT_HOLD_BATCH_MAX", DEFAULT_BATCH_LIMITS.maxBatch, 1, 256),
      maxWaiting: int("CREDIT_HOLD_BATCH_MAX_WAITING", DEFAULT_BATCH_LIMITS.maxWaiting, 0, 10_000),
    },
  };
}
