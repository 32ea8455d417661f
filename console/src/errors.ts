// Errors as people read them: built from the google.rpc.ErrorInfo reason every error of
// the platform carries (and the fields a BadRequest names), never from a stack or a
// numeric code. The reason and trace id stay visible in small print, for support.
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { h } from "./dom.js";

export interface Explained {
  title: string;
  detail: string;
  reason: string;
  traceId: string;
  code: Code;
}

const REASONS: Record<string, string> = {
  ROLE_NOT_ALLOWED: "Your role may not do this. The server refused the request.",
  CREDENTIALS_REQUIRED: "You are signed out. Sign in again.",
  TOKEN_INVALID: "Your session has ended. Sign in again.",
  TOKEN_EXPIRED: "Your session has expired. Sign in again.",
  OTP_INVALID: "That code is wrong, used or expired. Request a new code and try again.",
  OTP_RATE_LIMITED: "Too many codes were requested. Wait a little before asking again.",
  REFRESH_TOKEN_INVALID: "Your session has ended. Sign in again.",
  REFRESH_TOKEN_REUSED: "Your session was ended for safety (it was used twice). Sign in again.",
  USER_DISABLED: "This account is disabled.",
  RATE_LIMITED: "Too many requests. Wait a moment and try again.",
  VERSION_MISMATCH: "Someone else changed this since you loaded it, so your change was not applied. Reload to see the current values, then decide again.",
  CREDIT_LINE_EXISTS: "This borrower already has an open credit line. Change its limit instead.",
  CREDIT_POLICY_NOT_FOUND: "Your bank has no credit policy for this currency yet, so no limit can be computed.",
  KYC_NOT_VERIFIED: "The borrower's KYC is not verified yet: approve their documents first.",
  SUBJECT_INELIGIBLE: "The risk assessment makes this borrower ineligible under your bank's policy.",
  LIMIT_ABOVE_POLICY: "That limit is above your bank's policy maximum for the borrower's risk category.",
  LIMIT_BELOW_EXPOSURE: "That limit is below what the borrower already holds and owes.",
  SUB_LIMIT_ABOVE_PARENT: "A driver's sub-limit cannot exceed the agency line's limit.",
  CREDIT_LINE_CLOSED: "This line is closed.",
  RISK_FACTS_UNAVAILABLE: "The risk facts could not all be read just now; nothing was scored. Try again shortly.",
  RISK_HISTORY_TOO_LONG: "This borrower's loan history is longer than an assessment reads.",
  DEPENDENCY_UNAVAILABLE: "A service this needs is unavailable. Try again shortly.",
  DOCUMENT_ALREADY_REVIEWED: "Someone already reviewed this document.",
  STATION_NOT_FOUND: "No such station among your merchant's stations.",
  ORGANIZATION_MISMATCH: "That belongs to another organisation.",
  ORGANIZATION_NOT_FOUND: "No such organisation.",
  PHONE_ALREADY_REGISTERED: "That phone number already belongs to a user.",
  ROLE_NOT_GRANTABLE: "You may not grant that role.",
  BANK_CODE_TAKEN: "Another bank already uses that code.",
  REGISTRATION_NUMBER_TAKEN: "That registration number is already registered.",
  NOT_A_CUSTOMER: "This phone belongs to a staff account.",
};

const BY_CODE: Partial<Record<Code, string>> = {
  [Code.Unauthenticated]: "You are signed out. Sign in again.",
  [Code.PermissionDenied]: "You may not do this.",
  [Code.NotFound]: "Not found, or not yours to see.",
  [Code.InvalidArgument]: "Some of what was entered is not valid.",
  [Code.FailedPrecondition]: "This cannot be done in the current state.",
  [Code.AlreadyExists]: "That already exists.",
  [Code.Aborted]: "Someone else changed this at the same time. Reload and try again.",
  [Code.ResourceExhausted]: "Too many requests. Wait a moment and try again.",
  [Code.Unavailable]: "The server cannot be reached just now. Try again shortly.",
  [Code.DeadlineExceeded]: "The server took too long to answer. Try again.",
  [Code.Canceled]: "The request was cancelled.",
};

/** Codes whose server message names the field or the state, and is written for clients. */
const MESSAGE_IS_USEFUL = new Set([Code.InvalidArgument, Code.FailedPrecondition, Code.NotFound, Code.AlreadyExists]);

/** A mistake caught in the page before any call: its message is the explanation. */
export class InputError extends Error {}

export function describeError(err: unknown): Explained {
  if (err instanceof InputError) return { title: err.message, detail: "", reason: "", traceId: "", code: Code.InvalidArgument };
  const e = ConnectError.from(err);
  const info = e.findDetails(ErrorInfoSchema)[0];
  const reason = info?.reason ?? "";
  const traceId = info?.metadata["trace_id"] ?? info?.metadata["traceId"] ?? "";
  const fields = e.findDetails(BadRequestSchema).flatMap((b) => b.fieldViolations.map((v) => `${v.field}: ${v.description}`));
  const title = REASONS[reason] ?? BY_CODE[e.code] ?? "Something went wrong on our side. Try again, or give support the trace id below.";
  const detail = fields.length ? fields.join("; ") : MESSAGE_IS_USEFUL.has(e.code) && !REASONS[reason] ? e.rawMessage : "";
  return { title, detail, reason, traceId, code: e.code };
}

export function errorBox(x: Explained): HTMLElement {
  return h(
    "div",
    { class: "error", role: "alert" },
    h("strong", null, x.title),
    x.detail ? h("p", null, x.detail) : null,
    x.reason || x.traceId ? h("small", { class: "muted" }, [x.reason ? `reason ${x.reason}` : "", x.traceId ? ` · trace ${x.traceId}` : ""].join("")) : null,
  );
}
