// A keyed call of the sale path (Authorize, Settle, Void), from its intent to its rest,
// guarded once, in Postgres. The intent is one statement that moves the row and inserts
// the call's idempotency key row with it (store.startTransaction, store.startStep): the
// key row is the intent's record, so no key is read before the work. Then the saga's
// steps run (flows.advance) and the move that brings the row to rest also stores the
// answer on the key row. A retry — even after Redis lost the key, even after a crash —
// finds the key only when its intent did not apply, and then replays the stored answer
// or resumes the linked transaction from its persisted state. Same key with another
// request → INVALID_ARGUMENT IDEMPOTENCY_KEY_REUSED.
import { fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { HoldRequest } from "../../gen/fuel/credit/v1/credit_pb.js";
import { sqlState, UNIQUE_VIOLATION } from "../../platform/db.js";
import { invalidArgument, rpcError } from "../../platform/errors.js";
import type { IdempotencyTicket } from "../../platform/pg-guard.js";
import type { ServiceDeps } from "../../platform/service.js";
import { advance, type KeptAnswer } from "./flows.js";
import type { CrashPoint, TransactionSettings } from "./settings.js";
import { UNFINISHED } from "./state.js";
import * as store from "./store.js";
import type { TxnRow } from "./store.js";

/** What a keyed call answers with, and where its handler may be killed by the crash tests. */
export interface KeyedCall<S extends DescMessage> {
  ticket: IdempotencyTicket;
  schema: S;
  /** The answer a resting row means; throws the error it means (EXPIRED, not AUTHORIZED…). */
  respond: (row: TxnRow) => MessageShape<S>;
  crashAt: CrashPoint;
}

const inProgress = () => rpcError(Code.Aborted, "IDEMPOTENCY_KEY_IN_PROGRESS", "a request with this idempotency key is still running; retry later");

/**
 * What this call's key already did: undefined when the key is free; else the stored
 * answer (a replay), or the linked transaction resumed to its rest, or a refusal.
 */
export async function answerOfKey<S extends DescMessage>(deps: ServiceDeps, s: TransactionSettings, c: KeyedCall<S>): Promise<MessageShape<S> | undefined> {
  const k = await store.keyRow(deps.pool, c.ticket.scope, c.ticket.key);
  if (!k) return undefined;
  if (k.request_hash !== c.ticket.requestHash) {
    throw invalidArgument("idempotency-key", "was already used with a different request", "IDEMPOTENCY_KEY_REUSED");
  }
  if (k.response && k.response.length > 0) return fromBinary(c.schema, k.response);
  const row = k.transaction_id ? await store.getTransaction(deps.pool, k.transaction_id) : undefined;
  if (!row) throw inProgress();
  return await toRest(deps, s, c, row);
}

/**
 * A refusal found before the intent (a QR now expired, a station now closed) is the answer
 * only if this key never ran: a retry of a call that went through gets that call's answer.
 */
export async function refuseUnlessKnown<S extends DescMessage>(deps: ServiceDeps, s: TransactionSettings, c: KeyedCall<S>, err: unknown): Promise<MessageShape<S>> {
  if (err instanceof ConnectError) {
    const known = await answerOfKey(deps, s, c);
    if (known) return known;
  }
  throw err;
}

/**
 * Runs a keyed call: `intent` (one statement that moves or creates the row and claims the
 * key; undefined when the row was not as it needs) and then the saga to rest. When the
 * intent did not apply, the key decides (replay, resume, REUSED), else `refusal` says why.
 * `ask`: the hold request this intent stored, as built — used only for the row this call
 * created, never for one it resumes.
 */
export async function runStep<S extends DescMessage>(
  deps: ServiceDeps,
  s: TransactionSettings,
  c: KeyedCall<S>,
  intent: () => Promise<TxnRow | undefined>,
  refusal: () => Promise<Error>,
  ask?: HoldRequest,
): Promise<MessageShape<S>> {
  let row: TxnRow | undefined;
  try {
    row = await intent();
  } catch (err) {
    // The key is taken (by this request's own earlier run, or by another request).
    if (sqlState(err) !== UNIQUE_VIOLATION) throw err;
    const known = await answerOfKey(deps, s, c);
    if (known) return known;
    throw inProgress();
  }
  if (!row) {
    const known = await answerOfKey(deps, s, c);
    if (known) return known;
    throw await refusal();
  }
  await s.crashPoint(c.crashAt);
  return await toRest(deps, s, c, row, ask);
}

/**
 * Runs the unfinished steps of the row, answers from where it rests and keeps the answer
 * on the key: in the statement that brought the row to rest when that is this call's, here
 * otherwise. An error outcome frees the key, so nothing stale is replayed.
 */
async function toRest<S extends DescMessage>(deps: ServiceDeps, s: TransactionSettings, c: KeyedCall<S>, row: TxnRow, ask?: HoldRequest): Promise<MessageShape<S>> {
  const kept: KeptAnswer = { scope: c.ticket.scope, key: c.ticket.key, build: (r) => toBinary(c.schema, c.respond(r)), stored: null };
  const done = await advance(deps, s, row, kept, ask);
  let response: MessageShape<S>;
  try {
    response = c.respond(done);
  } catch (err) {
    await store.dropKey(deps.pool, c.ticket.scope, c.ticket.key);
    throw err;
  }
  if (UNFINISHED.includes(done.state)) {
    // Resting short of its end (CAPTURED while the loan cannot be created yet): the answer
    // is true now but not for good, so it is not kept; a retry resumes the row and answers
    // from where it is then.
    c.ticket.provisional = true;
    return response;
  }
  const bytes = toBinary(c.schema, response);
  if (!kept.stored || !sameBytes(kept.stored, bytes)) await store.storeResponse(deps.pool, c.ticket.scope, c.ticket.key, bytes);
  return response;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
