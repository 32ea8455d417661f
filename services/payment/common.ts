// Helpers shared by the PaymentService handlers: the Postgres idempotency guard for the
// methods that move money, settings, and errors used in several places.
import { fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { Code, type HandlerContext } from "@connectrpc/connect";
import { one, withTx, type Tx } from "../../platform/db.js";
import { invalidArgument, rpcError } from "../../platform/errors.js";
import { guardOnce, ticketOf } from "../../platform/pg-guard.js";
import type { ServiceDeps } from "../../platform/service.js";

export const IDEMPOTENCY_TABLE = "payment.idempotency_keys";

/** One transaction under the Postgres idempotency guard: a retry gets the stored response. */
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

/** The stored response of an earlier, finished run of this key (read before any side effect). */
export async function priorResponse<S extends DescMessage>(deps: ServiceDeps, ctx: HandlerContext, schema: S): Promise<MessageShape<S> | null> {
  const t = ticketOf(ctx);
  const row = await one<{ request_hash: string; response: Buffer | null }>(
    deps.pool,
    `SELECT request_hash, response FROM ${IDEMPOTENCY_TABLE} WHERE scope = $1 AND key = $2`,
    [t.scope, t.key],
  );
  if (!row) return null;
  if (row.request_hash !== t.requestHash) {
    throw invalidArgument("idempotency-key", "was already used with a different request", "IDEMPOTENCY_KEY_REUSED");
  }
  return row.response === null ? null : fromBinary(schema, row.response);
}

export const gatewayUnavailable = (detail: string) =>
  rpcError(Code.Unavailable, "PAYMENT_GATEWAY_UNAVAILABLE", `the payment gateway is unavailable (${detail}); nothing was charged, retry with the same idempotency key`);

/** Service settings (environment; validated when the module starts). */
export interface PaymentSettings {
  /** How long a checkout stays open before the payment expires. */
  checkoutTtlSeconds: number;
  /** How often the pending-payment job runs; 0 = never. */
  syncIntervalMs: number;
  /** The job checks payments PENDING at least this long. */
  syncMinAgeSeconds: number;
  syncBatch: number;
  /** Per-request timeout of gateway API calls. */
  gatewayTimeoutMs: number;
}

export function settingsFromEnv(env: Record<string, string | undefined> = process.env): PaymentSettings {
  const int = (name: string, def: number, min: number, max: number) => {
    const raw = env[name];
    if (raw === undefined || raw === "") return def;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    return n;
  };
  return {
    checkoutTtlSeconds: int("PAYMENT_CHECKOUT_TTL_SECONDS", 24 * 3600, 60, 30 * 24 * 3600),
    syncIntervalMs: int("PAYMENT_SYNC_INTERVAL_MS", 60_000, 0, 24 * 3600_000),
    syncMinAgeSeconds: int("PAYMENT_SYNC_MIN_AGE_SECONDS", 600, 1, 86_400),
    syncBatch: int("PAYMENT_SYNC_BATCH", 100, 1, 1000),
    gatewayTimeoutMs: int("PAYMENT_GATEWAY_TIMEOUT_MS", 5_000, 100, 60_000),
  };
}
