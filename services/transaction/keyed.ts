// The Postgres side of idempotency for our multi-step money methods. The first request of
// a key inserts the key row (platform/pg-guard.ts guardedWork) in the same transaction as its
// intent, linked to the transaction, with an empty response; the final response is stored
// when the job is done. A retry — even after Redis lost the key, even after a crash —
// therefore either replays the stored response or resumes the linked transaction from its
// persisted state. Same key with another request → INVALID_ARGUMENT.
import { fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { invalidArgument, rpcError } from "../../platform/errors.js";
import type { IdempotencyTicket } from "../../platform/pg-guard.js";
import type { ServiceDeps } from "../../platform/service.js";
import { advance, type Finalizer } from "./flows.js";
import type { TransactionSettings } from "./settings.js";
import { UNFINISHED } from "./state.js";
import * as store from "./store.js";
import type { TxnRow } from "./store.js";

export type Prior<S extends DescMessage> = { kind: "none" } | { kind: "replay"; response: MessageShape<S> } | { kind: "resume"; row: TxnRow };

export async function priorOf<S extends DescMessage>(deps: ServiceDeps, t: IdempotencyTicket, schema: S): Promise<Prior<S>> {
  const k = await store.keyRow(deps.pool, t.scope, t.key);
  if (!k) return { kind: "none" };
  if (k.request_hash !== t.requestHash) {
    throw invalidArgument("idempotency-key", "was already used with a different request", "IDEMPOTENCY_KEY_REUSED");
  }
  if (k.response && k.response.length > 0) return { kind: "replay", response: fromBinary(schema, k.response) };
  const row = k.transaction_id ? await store.getTransaction(deps.pool, k.transaction_id) : undefined;
  if (!row) throw rpcError(Code.Aborted, "IDEMPOTENCY_KEY_IN_PROGRESS", "a request with this idempotency key is still running; retry later");
  return { kind: "resume", row };
}

/**
 * Finishes the job of a key: runs the unfinished steps, builds the response from the row
 * (or throws the error the final state means), and stores the response for replays. An
 * error outcome releases the key so nothing stale is replayed.
 */
export async function finish<S extends DescMessage>(
  deps: ServiceDeps,
  s: TransactionSettings,
  t: IdempotencyTicket,
  schema: S,
  row: TxnRow,
  respond: (row: TxnRow) => MessageShape<S>,
): Promise<MessageShape<S>> {
  // The step that brings the row to rest stores the response in the same statement when it
  // can; otherwise (or if the row rests elsewhere) it is stored here as before.
  const fin: Finalizer = { scope: t.scope, key: t.key, build: (r) => toBinary(schema, respond(r)), stored: null };
  const done = await advance(deps, s, row, fin);
  let response: MessageShape<S>;
  try {
    response = respond(done);
  } catch (err) {
    await store.dropKey(deps.pool, t.scope, t.key);
    throw err;
  }
  if (UNFINISHED.includes(done.state)) {
    // Resting short of its end (CAPTURED while the loan cannot be created yet): the answer
    // is true now but not for good, so it is not kept; a retry resumes the row and answers
    // from where it is then.
    t.provisional = true;
    return response;
  }
  const bytes = toBinary(schema, response);
  if (!fin.stored || !sameBytes(fin.stored, bytes)) await store.storeResponse(deps.pool, t.scope, t.key, bytes);
  return response;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
