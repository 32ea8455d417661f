// Which provider failures are worth retrying. Adapters describe what went wrong in
// provider-neutral terms; this decides retryable vs permanent and the short error code
// shown as Delivery.last_error. Pure, so it is unit-tested without any provider.

export type ProviderFailure =
  /** No provider configured for the channel. */
  | { kind: "not_configured" }
  /** Connection refused/reset, DNS failure, TLS failure: nothing reached the provider. */
  | { kind: "network" }
  /** The bounded timeout elapsed. */
  | { kind: "timeout" }
  /** An HTTP API answered with a non-2xx status; `code` is the provider's own code/status. */
  | { kind: "http"; status: number; code?: string | number }
  /** An SMTP server refused; `responseCode` is the SMTP reply code when there was one. */
  | { kind: "smtp"; responseCode?: number; code?: string }
  /** The provider answered 2xx but with something we cannot read. */
  | { kind: "bad_response" };

export interface Classification {
  retryable: boolean;
  /** UPPER_SNAKE short code, never containing a recipient or content. */
  code: string;
}

const retry = (code: string): Classification => ({ retryable: true, code });
const permanent = (code: string): Classification => ({ retryable: false, code });

// Twilio error codes meaning "this recipient can never get this message".
const TWILIO_BAD_RECIPIENT = new Set([21211, 21214, 21408, 21610, 21612, 21614]);
// FCM v1 statuses meaning the device token is dead or the request can never succeed.
const FCM_UNREGISTERED = new Set(["UNREGISTERED", "NOT_FOUND"]);
const FCM_PERMANENT = new Set(["INVALID_ARGUMENT", "SENDER_ID_MISMATCH", "PERMISSION_DENIED"]);
const FCM_RETRYABLE = new Set(["UNAVAILABLE", "INTERNAL", "QUOTA_EXCEEDED", "RESOURCE_EXHAUSTED", "UNAUTHENTICATED"]);
// Node/nodemailer error codes for transport trouble (retry).
const SMTP_TRANSPORT = new Set(["ECONNECTION", "ETIMEDOUT", "ESOCKET", "EDNS", "ECONNREFUSED", "ECONNRESET", "ETLS", "EPROTOCOL", "EAUTH"]);

export function classify(f: ProviderFailure): Classification {
  switch (f.kind) {
    case "not_configured":
      return retry("PROVIDER_NOT_CONFIGURED");
    case "network":
      return retry("PROVIDER_UNAVAILABLE");
    case "timeout":
      return retry("PROVIDER_TIMEOUT");
    case "bad_response":
      return retry("PROVIDER_BAD_RESPONSE");
    case "http":
      return classifyHttp(f.status, f.code);
    case "smtp":
      return classifySmtp(f.responseCode, f.code);
  }
}

function classifyHttp(status: number, code: string | number | undefined): Classification {
  if (typeof code === "number" && TWILIO_BAD_RECIPIENT.has(code)) return permanent("INVALID_RECIPIENT");
  if (typeof code === "string") {
    if (FCM_UNREGISTERED.has(code)) return permanent("DEVICE_UNREGISTERED");
    if (FCM_RETRYABLE.has(code) && status !== 400) {
      return code === "QUOTA_EXCEEDED" || code === "RESOURCE_EXHAUSTED" ? retry("PROVIDER_RATE_LIMITED") : retry("PROVIDER_UNAVAILABLE");
    }
    if (FCM_PERMANENT.has(code)) return permanent("PROVIDER_REJECTED");
  }
  if (status === 429) return retry("PROVIDER_RATE_LIMITED");
  if (status === 408 || status === 425) return retry("PROVIDER_TIMEOUT");
  // Credentials are an operator's fix; keep the message until they are fixed.
  if (status === 401 || status === 403) return retry("PROVIDER_AUTH_FAILED");
  if (status === 404 && typeof code === "string") return permanent("DEVICE_UNREGISTERED");
  if (status >= 500) return retry("PROVIDER_UNAVAILABLE");
  if (status >= 400) return permanent("PROVIDER_REJECTED");
  return retry("PROVIDER_BAD_RESPONSE");
}

function classifySmtp(responseCode: number | undefined, code: string | undefined): Classification {
  if (responseCode !== undefined) {
    // 4xx: transient (greylisting, mailbox busy, rate limits); 5xx: permanent refusal.
    if (responseCode >= 400 && responseCode < 500) return retry("PROVIDER_UNAVAILABLE");
    if (responseCode === 550 || responseCode === 551 || responseCode === 553 || responseCode === 501) return permanent("INVALID_RECIPIENT");
    if (responseCode === 530 || responseCode === 535) return retry("PROVIDER_AUTH_FAILED");
    if (responseCode >= 500) return permanent("PROVIDER_REJECTED");
  }
  if (code === "ETIMEDOUT") return retry("PROVIDER_TIMEOUT");
  if (code === "EAUTH") return retry("PROVIDER_AUTH_FAILED");
  if (code !== undefined && SMTP_TRANSPORT.has(code)) return retry("PROVIDER_UNAVAILABLE");
  // EENVELOPE / EMESSAGE without a reply code: our message is malformed — permanent.
  if (code === "EENVELOPE" || code === "EMESSAGE") return permanent("PROVIDER_REJECTED");
  return retry("PROVIDER_UNAVAILABLE");
}

/** What adapters throw: carries the classification, never recipient or content. */
export class ProviderError extends Error {
  readonly retryable: boolean;
  readonly code: string;
  constructor(readonly failure: ProviderFailure, message?: string) {
    const c = classify(failure);
    super(message ?? c.code);
    this.name = "ProviderError";
    this.retryable = c.retryable;
    this.code = c.code;
  }
}
