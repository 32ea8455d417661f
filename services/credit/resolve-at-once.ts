// Capture and Void of a hold in the usual case, in one round trip and one commit (two when
// another instance placed the hold: it is read first): one statement claims it (PENDING, unexpired, enough held), writes the
// balanced entry, moves the lines' counters and claims the idempotency key with the
// answer. Anything unusual — a retry (the key is taken), a hold already resolved, overdue
// or of another currency, an amount above it — goes the locked way (resolve.ts), which
// answers with the right error or the stored response.
import { randomUUID } from "node:crypto";
import { toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { sqlState, UNIQUE_VIOLATION } from "../../platform/db.js";
import { ticketOf } from "../../platform/pg-guard.js";
import type { ServiceDeps } from "../../platform/service.js";
import { IDEMPOTENCY_TABLE } from "./common.js";
import { writeMovementIfUnchanged } from "./ledger-store.js";
import { resolutionEntry, type Resolution } from "./resolve.js";
import type { RecentHolds } from "./recent-holds.js";
import * as store from "./store.js";

export interface AtOnce<S extends DescMessage> {
  holdId: string;
  resolution: Resolution;
  /** The currency the caller names, or null (a void names none). */
  currency: string | null;
  actorId: string;
  schema: S;
  /** The answer from the hold as resolved and its entry. */
  respond: (h: store.HoldRow, entryId: string) => MessageShape<S>;
}

/** The answer, or null when the locked way must answer. */
export async function resolveAtOnce<S extends DescMessage>(deps: ServiceDeps, recent: RecentHolds, ctx: HandlerContext, a: AtOnce<S>): Promise<MessageShape<S> | null> {
  const now = deps.now();
  const r = a.resolution;
  const captured = r.to === "CAPTURED" ? r.captured : 0n;
  // A hold this instance placed is not read back (recent-holds.ts says why that is safe).
  const h = recent.take(a.holdId) ?? (await store.getHold(deps.pool, a.holdId));
  if (!h || h.status !== "PENDING" || h.expire_time <= now || captured > h.amount) return null;
  if (a.currency !== null && a.currency !== h.currency) return null;
  const entryId = randomUUID();
  const resolved: store.HoldRow = {
    ...h, status: r.to, captured_amount: captured, released_amount: h.amount - captured, resolve_entry_id: entryId, resolve_time: now,
  };
  const response = a.respond(resolved, entryId);
  const t = ticketOf(ctx);
  try {
    const written = await writeMovementIfUnchanged(deps.pool, [resolutionEntry(h, r, entryId, a.actorId)], now, [], {
      resolves: { holdId: h.hold_id, to: r.to, captured, entryId },
      keys: [{ table: IDEMPOTENCY_TABLE, scope: t.scope, key: t.key, requestHash: t.requestHash, response: toBinary(a.schema, response) }],
    });
    return written ? response : null;
  } catch (err) {
    if (sqlState(err) === UNIQUE_VIOLATION) return null;
    throw err;
  }
}
