// The idempotency key of a send, as the outbox sees it: the same scope the interceptor
// uses (method + caller), so a replay after the Redis record is lost still finds the
// first outbox row instead of queueing the message twice.
import { toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { callInfo } from "../../platform/context.js";
import { invalidArgument } from "../../platform/errors.js";
import { IDEMPOTENCY_HEADER, requestHash } from "../../platform/interceptors/idempotency.js";
import type { Idem } from "./store.js";

export function idemOf<D extends DescMessage>(ctx: HandlerContext, schema: D, req: MessageShape<D>): Idem {
  const key = ctx.requestHeader.get(IDEMPOTENCY_HEADER);
  if (!key) throw invalidArgument(IDEMPOTENCY_HEADER, "header is required on this method", "IDEMPOTENCY_KEY_REQUIRED");
  const info = callInfo(ctx);
  const caller = info.principal?.subjectId || (info.callerService ? `svc:${info.callerService}` : `ip:${info.clientIp}`);
  return {
    scope: `${ctx.method.name}:${caller}`,
    key,
    requestHash: requestHash(schema.typeName, toBinary(schema, req)),
  };
}

/** The outbox row exists for this key but with another request. */
export function keyReused(): never {
  throw invalidArgument(IDEMPOTENCY_HEADER, "was already used with a different request", "IDEMPOTENCY_KEY_REUSED");
}
