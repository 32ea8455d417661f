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
