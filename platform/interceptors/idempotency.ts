// Idempotency keys for mutating methods (those whose policy says `mutating`).
// Same key + same request → the first response, replayed (header idempotent-replayed).
// Same key + different request → INVALID_ARGUMENT. Same key while the first call still
// runs → ABORTED. Keys are scoped to the caller and the method. Redis is the fast path;
// money-moving handlers add a Postgres guard in their own transaction (pg-guard.ts).
import { createHash } from "node:crypto";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, createContextKey, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { callInfoKey } from "../context.js";
import { invalidArgument, rpcError } from "../errors.js";
import type { Kv } from "../kv.js";
import { methodPolicy } from "./authenticate.js";
import { idempotencyTicketKey, type IdempotencyTicket } from "../pg-guard.js";
import { GATEWAY_SERVICE, WEBHOOK_RELAY_SERVICE } from "../policy.js";

const isMeshPeer = (svc: string | null | undefined) => !!svc && svc !== GATEWAY_SERVICE && svc !== WEBHOOK_RELAY_SERVICE;

export const IDEMPOTENCY_HEADER = "idempotency-key";
export const REPLAYED_HEADER = "idempotent-replayed";
const KEY_PATTERN = /^[\x21-\x7e]{1,128}$/;
/** How long a finished response is kept for replay. */
export const IDEMPOTENCY_TTL_MS = 24 * 3600_000;

/** The stored response of a replayed call, for the handler wrapper to return. */
const replayKey = createContextKey<unknown>(undefined, { description: "idempotent replay" });

/**
 * Wraps a router so every unary handler first checks for a replayed response. Handlers
 * registered through it never run for a replay.
 */
export function replayingRouter(router: ConnectRouter): ConnectRouter {
  const wrap = (impl: Record<string, unknown>, desc: { methods: Array<{ localName: string; methodKind: string }> }) => {
    const out: Record<string, unknown> = { ...impl };
    for (const m of desc.methods) {
      const fn = impl[m.localName] as ((req: unknown, ctx: { values: { get(k: unknown): unknown } }) => unknown) | undefined;
      if (!fn || m.methodKind !== "unary") continue;
      out[m.localName] = (req: unknown, ctx: { values: { get(k: unknown): unknown } }) => ctx.values.get(replayKey) ?? fn(req, ctx);
    }
    return out;
  };
  return new Proxy(router, {
    get(target, prop, receiver) {
      if (prop === "service") {
        return (desc: never, impl: Record<string, unknown>, opts?: never) => target.service(desc, wrap(impl, desc) as never, opts);
      }
      return Reflect.get(target, prop, receiver);
    },
  });
}

interface Record_ {
  h: string;
  s: "running" | "done";
  r?: string;
}

export function requestHash(typeName: string, bytes: Uint8Array): string {
  return createHash("sha256").update(typeName).update("\0").update(bytes).digest("base64url");
}

/** A reply the Postgres guard answered from its stored response says so, like a Redis replay. */
function markReplay<R extends { header: Headers }>(res: R, ticket: IdempotencyTicket): R {
  if (ticket.replayed) res.header.set(REPLAYED_HEADER, "true");
  return res;
}

export function idempotency(kv: Kv, serviceName: string, runningTtlMs: number): Interceptor {
  return (next) => async (req) => {
    const policy = methodPolicy(req.method);
    if (req.stream || !policy.mutating) return await next(req);
    const key = req.header.get(IDEMPOTENCY_HEADER);
    if (!key) throw invalidArgument(IDEMPOTENCY_HEADER, "header is required on this method", "IDEMPOTENCY_KEY_REQUIRED");
    if (!KEY_PATTERN.test(key)) throw invalidArgument(IDEMPOTENCY_HEADER, "must be 1-128 printable ASCII characters", "IDEMPOTENCY_KEY_INVALID");

    const info = req.contextValues.get(callInfoKey);
    const scope = info?.principal?.subjectId || (info?.callerService ? `svc:${info.callerService}` : `ip:${info?.clientIp ?? ""}`);
    const slot = `idem:${serviceName}:${req.method.parent.typeName}/${req.method.name}:${scope}:${key}`;
    const hash = requestHash(req.method.input.typeName, toBinary(req.method.input, req.message));
    const ticket: IdempotencyTicket = { scope: `${req.method.parent.typeName}/${req.method.name}:${scope}`, key, requestHash: hash };
    req.contextValues.set(idempotencyTicketKey, ticket);

    // Money-moving handlers keep their own guard in Postgres, in the transaction that moves
    // the money, and answer a retry from it. When the caller is one of our own services
    // (which always retries with the same key), that guard is the whole story; the Redis
    // layer would only add two round trips to every hop of every sale.
    if (policy.movesMoney && isMeshPeer(info?.callerService)) return markReplay(await next(req), ticket);

    const claimed = await kv.set(slot, JSON.stringify({ h: hash, s: "running" } satisfies Record_), runningTtlMs, "NX");
    if (!claimed) {
      const raw = await kv.get(slot);
      if (raw) {
        const rec = JSON.parse(raw) as Record_;
        if (rec.h !== hash) {
          throw invalidArgument(IDEMPOTENCY_HEADER, "was already used with a different request", "IDEMPOTENCY_KEY_REUSED");
        }
        if (rec.s === "running") {
          throw rpcError(Code.Aborted, "IDEMPOTENCY_KEY_IN_PROGRESS", "a request with this idempotency key is still running; retry later");
        }
        // Answer through the normal path (so the protocol's own headers are kept), with
        // the stored message standing in for the handler; see replayingRouter.
        req.contextValues.set(replayKey, fromBinary(req.method.output, Buffer.from(rec.r ?? "", "base64")));
        const res = await next(req);
        res.header.set(REPLAYED_HEADER, "true");
        return res;
      }
      // The record expired between SET NX and GET: treat as a fresh claim.
      await kv.set(slot, JSON.stringify({ h: hash, s: "running" } satisfies Record_), runningTtlMs);
    }

    try {
      const res = markReplay(await next(req), ticket);
      if (!res.stream) {
        const bytes = toBinary(req.method.output, res.message);
        await kv.set(slot, JSON.stringify({ h: hash, s: "done", r: Buffer.from(bytes).toString("base64") } satisfies Record_), IDEMPOTENCY_TTL_MS);
      }
      return res;
    } catch (err) {
      // Failed calls release the key so the client's retry runs again. Money handlers
      // still hold their Postgres guard, so a retry cannot move money twice.
      await kv.del(slot).catch(() => undefined);
      throw err;
    }
  };
}
