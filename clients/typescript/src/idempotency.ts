// Idempotency keys. Every method that changes state says so in its contract
// (fuel.common.v1.policy `mutating`, carried in the generated descriptors) and the server
// refuses it without an `idempotency-key` header; the same key with the same request
// replays the first answer, so a retry can never move money twice. The client gives each
// logical call a fresh key unless the caller brought one, and keeps it for every retry.
import { randomUUID } from "node:crypto";
import { getOption, hasOption, type DescMethod } from "@bufbuild/protobuf";
import type { CallOptions, Interceptor } from "@connectrpc/connect";
import { policy } from "./gen/fuel/common/v1/common_pb.js";

export const IDEMPOTENCY_HEADER = "idempotency-key";
/** Set on an answer the server replayed from an earlier call with the same key. */
export const REPLAYED_HEADER = "idempotent-replayed";
const KEY_PATTERN = /^[\x21-\x7e]{1,128}$/;

/** The access policy a method declares in its proto (roles, mutating, moves_money). */
export function policyOf(method: DescMethod) {
  return hasOption(method, policy) ? getOption(method, policy) : undefined;
}

/** True when the server requires an idempotency key on `method`. */
export function isMutating(method: DescMethod): boolean {
  return policyOf(method)?.mutating ?? false;
}

/** True when `method` moves money (its key is also guarded in Postgres). */
export function movesMoney(method: DescMethod): boolean {
  return policyOf(method)?.movesMoney ?? false;
}

/**
 * Call options carrying your own idempotency key: use the id of the business event (a
 * core-banking posting reference, say) so that a retry after your own process restarts
 * is recognised as the same call. 1–128 printable ASCII characters.
 */
export function withIdempotencyKey(key: string, options: CallOptions = {}): CallOptions {
  if (!KEY_PATTERN.test(key)) throw new RangeError("an idempotency key is 1-128 printable ASCII characters");
  const headers = new Headers(options.headers);
  headers.set(IDEMPOTENCY_HEADER, key);
  return { ...options, headers };
}

/** Adds a fresh key to a mutating call that has none; retries further in reuse it. */
export function idempotencyKeys(newKey: () => string = randomUUID): Interceptor {
  return (next) => async (req) => {
    if (!req.stream && isMutating(req.method) && !req.header.has(IDEMPOTENCY_HEADER)) {
      req.header.set(IDEMPOTENCY_HEADER, newKey());
    }
    return await next(req);
  };
}
