// Every failure of a call, as one error class a bank's code can act on: the gRPC code,
// the ErrorInfo reason the server attaches (UPPER_SNAKE, domain "fuel.clearinghouse"),
// the fields a google.rpc.BadRequest names, how long RetryInfo asks to wait, and the
// trace id to quote to the clearinghouse's operators.
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "./gen/google/rpc/error_details_pb.js";
import type { FuelReason } from "./reasons.js";

export const ERROR_DOMAIN = "fuel.clearinghouse";
const TRACE_HEADER = "x-trace-id";

/** One field of the request the server refused, and why. */
export interface FieldViolation {
  /** Proto field path, e.g. `amount.amount_minor`, or a header name such as `idempotency-key`. */
  field: string;
  description: string;
}

// `name` stays "ConnectError": Connect recognises its errors by name as well as by
// prototype, so a FuelApiError still passes `instanceof ConnectError` and
// `ConnectError.from` everywhere.
export class FuelApiError extends ConnectError {
  /** ErrorInfo reason; derived from the code (e.g. "UNAVAILABLE") when the server sent none. */
  readonly reason: FuelReason;
  /** ErrorInfo metadata (e.g. `outstanding_minor`, `status`, `trace_id`). */
  readonly info: Readonly<Record<string, string>>;
  /** Every field a google.rpc.BadRequest named. */
  readonly fieldViolations: readonly FieldViolation[];
  /** The first field named, if any: what to fix in the request. */
  readonly field: string | undefined;
  /** Trace id of the failed call (ErrorInfo metadata, else the x-trace-id header). */
  readonly traceId: string | undefined;
  /** How long RetryInfo asks the caller to wait before retrying, in milliseconds. */
  readonly retryAfterMs: number | undefined;

  constructor(from: ConnectError) {
    super(from.rawMessage, from.code, from.metadata, undefined, from.cause);
    this.details = from.details;
    const info = from.findDetails(ErrorInfoSchema)[0];
    this.reason = info?.reason || codeName(from.code);
    this.info = { ...(info?.metadata ?? {}) };
    this.fieldViolations = from
      .findDetails(BadRequestSchema)
      .flatMap((b) => b.fieldViolations.map((v) => ({ field: v.field, description: v.description })));
    this.field = this.fieldViolations[0]?.field ?? this.info.field;
    this.traceId = this.info.trace_id || from.metadata.get(TRACE_HEADER) || undefined;
    const delay = from.findDetails(RetryInfoSchema)[0]?.retryDelay;
    this.retryAfterMs = delay ? Number(delay.seconds) * 1000 + Math.round(delay.nanos / 1e6) : undefined;
  }

  // ConnectError's own check accepts any ConnectError; this class needs its prototype.
  static override [Symbol.hasInstance](v: unknown): boolean {
    return typeof v === "object" && v !== null && Object.prototype.isPrototypeOf.call(FuelApiError.prototype, v);
  }

  /** The error as a FuelApiError (unchanged if it already is one). */
  static override from(reason: unknown, code = Code.Unknown): FuelApiError {
    if (reason instanceof FuelApiError) return reason;
    return new FuelApiError(ConnectError.from(reason, code));
  }
}

export function isFuelApiError(err: unknown): err is FuelApiError {
  return err instanceof FuelApiError;
}

/** Code.FailedPrecondition → "FAILED_PRECONDITION", the server's own fallback reason. */
function codeName(code: Code): string {
  return (Code[code] ?? "UNKNOWN").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}
