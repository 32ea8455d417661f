// Expected failures and how they reach the client: a ConnectError with the right Code and
// a google.rpc.ErrorInfo detail (reason in UPPER_SNAKE, a fixed domain, metadata carrying
// the trace id). Bad input also carries a google.rpc.BadRequest naming the field.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  RetryInfoSchema,
} from "../gen/google/rpc/error_details_pb.js";

export const ERROR_DOMAIN = "fuel.clearinghouse";

export type Metadata = Record<string, string>;

/** Builds the error every handler throws for an expected failure. */
export function rpcError(code: Code, reason: string, message: string, metadata: Metadata = {}): ConnectError {
  return new ConnectError(message, code, undefined, [
    { desc: ErrorInfoSchema, value: { reason, domain: ERROR_DOMAIN, metadata } },
  ]);
}

/** INVALID_ARGUMENT naming the offending field (proto field path, e.g. `vehicle.fuel_type`). */
export function invalidArgument(field: string, description: string, reason = "INVALID_FIELD"): ConnectError {
  return new ConnectError(`${field}: ${description}`, Code.InvalidArgument, undefined, [
    { desc: ErrorInfoSchema, value: { reason, domain: ERROR_DOMAIN, metadata: { field } } },
    { desc: BadRequestSchema, value: { fieldViolations: [{ field, description }] } },
  ]);
}

export const notFound = (what: string, reason = "NOT_FOUND") =>
  rpcError(Code.NotFound, reason, `${what} not found`);

export const permissionDenied = (reason: string, message: string) =>
  rpcError(Code.PermissionDenied, reason, message);

export const unauthenticated = (reason: string, message = "authentication required") =>
  rpcError(Code.Unauthenticated, reason, message);

export const failedPrecondition = (reason: string, message: string, metadata: Metadata = {}) =>
  rpcError(Code.FailedPrecondition, reason, message, metadata);

export const alreadyExists = (reason: string, message: string) =>
  rpcError(Code.AlreadyExists, reason, message);

export function resourceExhausted(reason: string, message: string, retryAfterMs: number): ConnectError {
  const seconds = BigInt(Math.floor(retryAfterMs / 1000));
  const nanos = (retryAfterMs % 1000) * 1_000_000;
  return new ConnectError(message, Code.ResourceExhausted, undefined, [
    { desc: ErrorInfoSchema, value: { reason, domain: ERROR_DOMAIN, metadata: { retry_after_ms: String(retryAfterMs) } } },
    { desc: RetryInfoSchema, value: { retryDelay: { seconds, nanos } } },
  ]);
}

/** Reads the ErrorInfo reason of an error (for tests and for mapping errors of hops). */
export function reasonOf(err: unknown): string | undefined {
  const ce = ConnectError.from(err);
  return ce.findDetails(ErrorInfoSchema)[0]?.reason;
}

/** Adds `trace_id` to the ErrorInfo metadata (or adds an ErrorInfo) without losing details. */
export function withTraceId(err: ConnectError, traceId: string): ConnectError {
  const infos = err.findDetails(ErrorInfoSchema);
  const others = err.details.filter((d) => {
    const type = "desc" in d ? d.desc.typeName : d.type;
    return type !== ErrorInfoSchema.typeName;
  });
  const info = infos[0] ?? create(ErrorInfoSchema, { reason: codeReason(err.code), domain: ERROR_DOMAIN });
  const metadata = { ...info.metadata, trace_id: traceId };
  const out = new ConnectError(err.rawMessage, err.code, err.metadata, [
    { desc: ErrorInfoSchema, value: { reason: info.reason, domain: info.domain || ERROR_DOMAIN, metadata } },
  ]);
  // Keep the other details (BadRequest, RetryInfo), including those received from a hop.
  out.details.push(...others);
  return out;
}

function codeReason(code: Code): string {
  return Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

// ---------------------------------------------------------------------------------------
// Failures of the infrastructure under a call. A lost connection, a pool that cannot hand
// out one in time, a statement cut off by its timeout, Redis away: none of these is the
// request's fault or a bug of ours, and each may pass, so the client is told to retry
// (UNAVAILABLE; ABORTED for a conflict between concurrent transactions) — with the same
// idempotency-key for a change, which the key makes safe. INTERNAL stays for our own bugs:
// it tells a client not to retry, which after a passing fault would be a lie.

export interface InfrastructureClass {
  code: Code.Unavailable | Code.Aborted;
  reason: string;
}

const DATABASE_UNAVAILABLE: InfrastructureClass = { code: Code.Unavailable, reason: "DATABASE_UNAVAILABLE" };
const DATABASE_TIMEOUT: InfrastructureClass = { code: Code.Unavailable, reason: "DATABASE_TIMEOUT" };
const TRANSACTION_CONFLICT: InfrastructureClass = { code: Code.Aborted, reason: "TRANSACTION_CONFLICT" };
const STORE_UNAVAILABLE: InfrastructureClass = { code: Code.Unavailable, reason: "STORE_UNAVAILABLE" };
const CONNECTION_FAILED: InfrastructureClass = { code: Code.Unavailable, reason: "CONNECTION_FAILED" };

/** Node's codes for a socket that could not connect or was lost (and DNS that did not answer). */
const SOCKET_CODES = new Set([
  "ECONNRESET", "ECONNREFUSED", "ECONNABORTED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "EHOSTDOWN",
  "ENETUNREACH", "ENETDOWN", "ENETRESET", "EADDRNOTAVAIL", "EAI_AGAIN", "ENOTFOUND",
]);

/** PostgreSQL SQLSTATEs that say the server, not the statement, failed. */
function bySqlState(state: string): InfrastructureClass | undefined {
  if (state.startsWith("08")) return DATABASE_UNAVAILABLE; // connection exception
  if (state.startsWith("53")) return DATABASE_UNAVAILABLE; // insufficient resources (53300 too many connections)
  switch (state) {
    case "57P01": // admin_shutdown: pg_terminate_backend, a fast or immediate stop
    case "57P02": // crash_shutdown: another backend crashed
    case "57P03": // cannot_connect_now: starting up or recovering
    case "57P05": // idle_session_timeout
    case "25006": // read_only_sql_transaction: reached a standby (mid-failover)
      return DATABASE_UNAVAILABLE;
    case "57014": // query_canceled: statement_timeout
    case "55P03": // lock_not_available: lock_timeout
      return DATABASE_TIMEOUT;
    case "40001": // serialization_failure
    case "40P01": // deadlock_detected
      return TRANSACTION_CONFLICT;
    default:
      return undefined;
  }
}

// node-postgres and pg-pool report their own connection trouble without a SQLSTATE.
const PG_CLIENT_MESSAGES = [
  /^Connection terminated/, // the server or the network ended the connection
  /^timeout exceeded when trying to connect/, // pg-pool: no connection within connectionTimeoutMillis
  /is not queryable$/, // a client whose connection already failed
  /^Query read timeout/, // query_timeout
  /^Cannot use a pool after calling end on the pool/, // a call still running while its service stops
];

// ioredis (and rate-limiter-flexible over it) without a server, or a server not serving.
const REDIS_ERROR_NAMES = new Set(["MaxRetriesPerRequestError", "ClusterAllFailedError"]);
const REDIS_MESSAGES = [
  /^Connection is closed\.?$/, /^Command timed out$/, /^Stream isn't writeable/, /^Socket timeout/, /^Redis connection is not ready$/,
  // A Redis Cluster: not (yet, or no longer) connected, or a slot whose master stays away.
  /^Cluster isn't ready/, /^None of startup nodes is available/, /^Too many Cluster redirections/,
];
const REDIS_REPLY_PREFIXES = /^(LOADING|BUSY|READONLY|CLUSTERDOWN|TRYAGAIN|MASTERDOWN) /;

/** Classifies one error object, without looking at its causes. */
function classifyOne(err: unknown): InfrastructureClass | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const { code, name, message } = err as { code?: unknown; name?: unknown; message?: unknown };
  const msg = typeof message === "string" ? message : "";
  if (typeof code === "string") {
    if (SOCKET_CODES.has(code)) return CONNECTION_FAILED;
    // A SQLSTATE comes with the server's severity; Node's own codes never do.
    if (/^[0-9A-Z]{5}$/.test(code) && "severity" in err) {
      const byState = bySqlState(code);
      if (byState) return byState;
    }
  }
  if (typeof name === "string" && REDIS_ERROR_NAMES.has(name)) return STORE_UNAVAILABLE;
  if (name === "ReplyError" && REDIS_REPLY_PREFIXES.test(msg)) return STORE_UNAVAILABLE;
  if (REDIS_MESSAGES.some((re) => re.test(msg))) return STORE_UNAVAILABLE;
  if (PG_CLIENT_MESSAGES.some((re) => re.test(msg))) return DATABASE_UNAVAILABLE;
  return undefined;
}

/** Causes followed at most this deep (an error chain is short; a cycle must not hang). */
const CAUSE_DEPTH_MAX = 5;

/**
 * What kind of infrastructure failure `err` is, looking through its `cause` chain and an
 * AggregateError's errors (Node reports a connect that tried several addresses as one);
 * undefined when it is none (a bug of ours, or an expected error).
 */
export function classifyInfrastructure(err: unknown, depth = 0): InfrastructureClass | undefined {
  if (depth > CAUSE_DEPTH_MAX || typeof err !== "object" || err === null) return undefined;
  const own = classifyOne(err);
  if (own) return own;
  const { cause, errors } = err as { cause?: unknown; errors?: unknown };
  if (Array.isArray(errors)) {
    for (const e of errors.slice(0, CAUSE_DEPTH_MAX)) {
      const c = classifyInfrastructure(e, depth + 1);
      if (c) return c;
    }
  }
  return cause === undefined ? undefined : classifyInfrastructure(cause, depth + 1);
}

const INFRASTRUCTURE_MESSAGES: Record<string, string> = {
  DATABASE_UNAVAILABLE: "the database is unavailable right now",
  DATABASE_TIMEOUT: "the database did not answer in time",
  TRANSACTION_CONFLICT: "a concurrent change conflicted with this one",
  STORE_UNAVAILABLE: "the key-value store is unavailable right now",
  CONNECTION_FAILED: "a connection inside the system failed",
};

/**
 * The error a client sees for an infrastructure failure: UNAVAILABLE (or ABORTED) with a
 * reason and a message saying to retry, nothing of the cause; undefined when `err` is
 * not an infrastructure failure.
 */
export function infrastructureFailure(err: unknown): ConnectError | undefined {
  const c = classifyInfrastructure(err);
  if (!c) return undefined;
  return rpcError(c.code, c.reason, `${INFRASTRUCTURE_MESSAGES[c.reason]}; retry (a change with the same idempotency-key)`);
}
