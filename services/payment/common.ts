// Helpers shared by the PaymentService handlers: the Postgres idempotency guard for the
// methods that move money, settings, and errors used in several places.
import { envInt } from "../../platform/config.js";
import { type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { Code, type HandlerContext } from "@connectrpc/connect";
import { type Tx } from "../../platform/db.js";
import { rpcError } from "../../platform/errors.js";
import { guardedTx as pgGuardedTx, priorResponse as pgPriorResponse } from "../../platform/pg-guard.js";
import type { ServiceDeps } from "../../platform/service.js";

export const IDEMPOTENCY_TABLE = "payment.idempotency_keys";

/** One money change under the Postgres idempotency guard (platform/pg-guard.ts). */
export const guardedTx = <S extends DescMessage>(deps: ServiceDeps, ctx: HandlerContext, schema: S, fn: (tx: Tx) => Promise<MessageShape<S>>) =>
  pgGuardedTx(deps.pool, IDEMPOTENCY_TABLE, ctx, schema, fn);

/** The stored result of an earlier, finished run of this key (platform/pg-guard.ts). */
export const priorResponse = <S extends DescMessage>(deps: ServiceDeps, ctx: HandlerContext, schema: S) =>
  pgPriorResponse(deps.pool, IDEMPOTENCY_TABLE, ctx, schema);

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
  /** The gateway API's key (PAYMENT_GATEWAY_API_KEY), sent as a bearer token; none for the simulated gateway. */
  gatewayApiKey: string | undefined;
}

export function settingsFromEnv(env: Record<string, string | undefined> = process.env): PaymentSettings {
  const int = (name: string, def: number, min: number, max: number) => envInt(env, name, def, min, max);
  return {
    checkoutTtlSeconds: int("PAYMENT_CHECKOUT_TTL_SECONDS", 24 * 3600, 60, 30 * 24 * 3600),
    syncIntervalMs: int("PAYMENT_SYNC_INTERVAL_MS", 60_000, 0, 24 * 3600_000),
    syncMinAgeSeconds: int("PAYMENT_SYNC_MIN_AGE_SECONDS", 600, 1, 86_400),
    syncBatch: int("PAYMENT_SYNC_BATCH", 100, 1, 1000),
    gatewayTimeoutMs: int("PAYMENT_GATEWAY_TIMEOUT_MS", 5_000, 100, 60_000),
    gatewayApiKey: env.PAYMENT_GATEWAY_API_KEY || undefined,
  };
}
