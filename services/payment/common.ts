// Helpers shared by the PaymentService handlers: the Postgres idempotency guard for the
// methods that move money, and errors used in several places.
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
