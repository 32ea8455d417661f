// Helpers shared by the CreditService handlers: money input, the Postgres idempotency
// guard around money transactions, settings, and errors used in several places.
import { fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { Code, type HandlerContext } from "@connectrpc/connect";
import type { Money } from "../../gen/fuel/common/v1/common_pb.js";
import { one, withTx, type Tx } from "../../platform/db.js";
import { invalidArgument, rpcError } from "../../platform/errors.js";
import { guardOnce, ticketOf } from "../../platform/pg-guard.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";

export const IDEMPOTENCY_TABLE = "credit.idempotency_keys";

/** A Money field: present, in `currency` (when given), amount within [min, ∞). */
export function moneyIn(field: string, m: Money | undefined, opts: { currency?: string; min?: bigint } = {}): { amount: bigint; currency: string } {
  if (!m) throw invalidArgument(field, "is required");
  v.currency(`${field}.currency`, m.currency);
  if (opts.currency !== undefined && m.currency !== opts.currency) throw invalidArgument(`${field}.currency`, `must be ${opts.currency}`);
  if (opts.min !== undefined && m.amountMinor < opts.min) throw invalidArgument(`${field}.amount_minor`, `must be ≥ ${opts.min}`);
  return { amount: m.amountMinor, currency: m.currency };
}

export const versionMismatch = (current?: bigint) =>
  rpcError(Code.Aborted, "VERSION_MISMATCH", "the object changed since you read it; read it again and retry", current === undefined ? {} : { current_version: current.toString() });

/**
 * Runs a money change in one transaction under the Postgres idempotency guard: a retry
 * with the same key (even after Redis lost it) gets the stored response, never a second
 * execution.
 */
export async function guardedTx<S extends DescMessage>(
  deps: ServiceDeps,
  ctx: HandlerContext,
  schema: S,
  fn: (tx: Tx) => Promise<MessageShape<S>>,
): Promise<MessageShape<S>> {
  const ticket = ticketOf(ctx);
  return await withTx(deps.pool, async (tx) => {
    const g = await guardOnce(tx, IDEMPOTENCY_TABLE, ticket, async () => {
      const value = await fn(tx);
      return { value, response: toBinary(schema, value) };
    });
    return g.replayed ? fromBinary(schema, g.response) : g.value;
  });
}

/** The stored response of an earlier run of this key, read before any side effect. */
export async function priorResponse<S extends DescMessage>(deps: ServiceDeps, ctx: HandlerContext, schema: S): Promise<MessageShape<S> | null> {
  const t = ticketOf(ctx);
  const row = await one<{ request_hash: string; response: Buffer | null }>(
    deps.pool,
    `SELECT request_hash, response FROM ${IDEMPOTENCY_TABLE} WHERE scope = $1 AND key = $2`,
    [t.scope, t.key],
  );
  if (!row || row.response === null) return null;
  if (row.request_hash !== t.requestHash) {
    throw invalidArgument("idempotency-key", "was already used with a different request", "IDEMPOTENCY_KEY_REUSED");
  }
  return fromBinary(schema, row.response);
}

export const reasonText = (field: string, value: string) => v.text(field, value, 1, 500);

/** Service settings (environment; validated when the module loads). */
export interface CreditSettings {
  defaultHoldTtlSeconds: number;
  expirySweepMs: number;
  expiryBatch: number;
}

export function settingsFromEnv(env: Record<string, string | undefined> = process.env): CreditSettings {
  const int = (name: string, def: number, min: number, max: number) => {
    const raw = env[name];
    if (raw === undefined || raw === "") return def;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    return n;
  };
  return {
    defaultHoldTtlSeconds: int("CREDIT_HOLD_TTL_SECONDS", 3600, 60, 86400),
    expirySweepMs: int("CREDIT_EXPIRY_SWEEP_MS", 30_000, 100, 3_600_000),
    expiryBatch: int("CREDIT_EXPIRY_BATCH", 500, 1, 5000),
  };
}
