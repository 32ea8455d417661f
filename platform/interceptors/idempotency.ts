// Idempotency keys for mutating methods (those whose policy says `mutating`).
// Same key + same request → the first response, replayed (header idempotent-replayed).
// Same key + different request → INVALID_ARGUMENT. Same key while the first call still
// runs → ABORTED; "still runs" is a lease its process renews (idempotency-lease.ts), so a
// call whose process died frees its key within IDEMPOTENCY_LEASE_MS. Keys are scoped to
// the caller and the method. Redis is the fast path; money-moving handlers add a Postgres
// guard in their own transaction (pg-guard.ts), which is why such calls go on when Redis
// is unreachable while other mutating calls are refused (UNAVAILABLE) before any work.
// Money calls between our own services, and the methods a service declares guarded in
// Postgres alone (the sale path), skip the Redis layer: one guard per kind of method.
import { createHash } from "node:crypto";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, createContextKey, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { callInfoKey } from "../context.js";
import { invalidArgument, rpcError } from "../errors.js";
import type { Kv } from "../kv.js";
import { LogThrottle } from "../log-throttle.js";
import { log } from "../logger.js";
import { methodPolicy } from "./authenticate.js";
import { idempotencyTicketKey, type IdempotencyTicket } from "../pg-guard.js";
import { IDEMPOTENCY_LEASE_MS, LeaseKeeper } from "./idempotency-lease.js";
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
  /** The owner of a running claim (idempotency-lease.ts). */
  o?: string;
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

type Claim = { kind: "claimed" } | { kind: "done"; response: string } | { kind: "running" } | { kind: "reused" };

/**
 * Claims the key for this call, or finds who has it. Throws only when the store fails.
 * A record can expire between SET NX and GET (a lapsed lease): then claim again, twice at
 * most; a key that keeps changing hands that fast is reported as running.
 */
async function claim(kv: Kv, slot: string, running: string, hash: string): Promise<Claim> {
  for (let attempt = 0; attempt < 2; attempt++) {
    if (await kv.set(slot, running, IDEMPOTENCY_LEASE_MS, "NX")) return { kind: "claimed" };
    const raw = await kv.get(slot);
    if (raw === null) continue;
    const rec = JSON.parse(raw) as Record_;
    if (rec.h !== hash) return { kind: "reused" };
    if (rec.s === "running") return { kind: "running" };
    return { kind: "done", response: rec.r ?? "" };
  }
  return { kind: "running" };
}

const STORE_WARN_EVERY_MS = 10_000;
/**
 * The longest a call waits on the store before counting it as down. Redis answers in well
 * under a millisecond; a client that is reconnecting holds commands far longer (seconds,
 * as its backoff grows), and a fast path that slow is none.
 */
export const IDEMPOTENCY_STORE_WAIT_MS = 500;

/** `p`, or a rejection once `IDEMPOTENCY_STORE_WAIT_MS` has passed (a late answer of `p` is then ignored). */
function bounded<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`idempotency store: no answer within ${IDEMPOTENCY_STORE_WAIT_MS} ms`)), IDEMPOTENCY_STORE_WAIT_MS);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/**
 * @param maxRunMs the longest a call keeps its key claimed (the deadline cap and a margin):
 * a handler hung past it stops renewing its lease, so its key frees one lease later.
 * @param guardedInPostgres money-moving methods ("pkg.Service/Method") whose handler claims
 * the key with its work and answers every retry from Postgres: one guard, no Redis layer.
 */
export function idempotency(kv: Kv, serviceName: string, maxRunMs: number, guardedInPostgres: ReadonlySet<string> = new Set()): Interceptor {
  const leases = new LeaseKeeper(kv, maxRunMs);
  // One warning per period while the store is down, not one per call.
  const throttle = new LogThrottle(STORE_WARN_EVERY_MS);
  const warn = (err: unknown, what: string) => {
    const passed = throttle.pass(what);
    if (passed) log.warn({ err, service: serviceName, suppressed: passed.suppressed }, `idempotency store: ${what}`);
  };

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
    // (which always retries with the same key), or the handler claims the key with its work
    // and answers every retry from it (the sale path: step.ts), that guard is the whole
    // story; the Redis layer would only add two round trips to every call.
    if (policy.movesMoney && (isMeshPeer(info?.callerService) || guardedInPostgres.has(`${req.method.parent.typeName}/${req.method.name}`))) {
      return markReplay(await next(req), ticket);
    }

    const running = JSON.stringify({ h: hash, s: "running", o: leases.owner() } satisfies Record_);
    let found: Claim;
    try {
      found = await bounded(claim(kv, slot, running, hash));
    } catch (err) {
      warn(err, "unreachable; money-moving calls go on under their Postgres guard, others are refused");
      // The Postgres guard is the real one for money: the call runs without the fast path.
      if (policy.movesMoney) return markReplay(await next(req), ticket);
      // Anything else has no other guard: refuse before doing any work, retryably.
      throw rpcError(Code.Unavailable, "IDEMPOTENCY_STORE_UNAVAILABLE", "idempotency keys cannot be checked right now; retry with the same idempotency-key");
    }
    switch (found.kind) {
      case "reused":
        throw invalidArgument(IDEMPOTENCY_HEADER, "was already used with a different request", "IDEMPOTENCY_KEY_REUSED");
      case "running":
        throw rpcError(Code.Aborted, "IDEMPOTENCY_KEY_IN_PROGRESS", "a request with this idempotency key is still running; retry later");
      case "done": {
        // Answer through the normal path (so the protocol's own headers are kept), with
        // the stored message standing in for the handler; see replayingRouter.
        req.contextValues.set(replayKey, fromBinary(req.method.output, Buffer.from(found.response, "base64")));
        const res = await next(req);
        res.header.set(REPLAYED_HEADER, "true");
        return res;
      }
      case "claimed":
        break;
    }

    leases.hold(slot, running);
    let res;
    try {
      res = markReplay(await next(req), ticket);
    } catch (err) {
      // A failed call releases the key so the client's retry runs again (money handlers
      // still hold their Postgres guard, so a retry cannot move money twice). If the
      // release fails, the lease lapses by itself; the call's own error is the answer.
      leases.release(running);
      await bounded(kv.delIf(slot, running)).catch((e) => warn(e, "could not release a key after a failed call"));
      throw err;
    }
    leases.release(running);
    // The work is done (and committed): from here on, nothing may change the answer. A
    // record that cannot be written is a lost fast path; the lease lapses and a retry
    // reaches the handler, which answers from its own state.
    if (ticket.provisional) {
      // The answer reports a state still moving: not kept, so a retry reads it afresh.
      await bounded(kv.delIf(slot, running)).catch((e) => warn(e, "could not release a key after a provisional answer"));
    } else if (!res.stream) {
      const bytes = toBinary(req.method.output, res.message);
      const done = JSON.stringify({ h: hash, s: "done", r: Buffer.from(bytes).toString("base64") } satisfies Record_);
      await bounded(kv.set(slot, done, IDEMPOTENCY_TTL_MS)).catch((e) => warn(e, "could not record a finished call for replay"));
    }
    return res;
  };
}
