// Webhook signatures (pure): HMAC-SHA256 with a shared secret over
// `<timestamp>.<raw body bytes>`, sent as `x-webhook-signature: v1=<lowercase hex>` (several
// comma-separated values allowed) beside `x-webhook-timestamp: <unix seconds>`. Every
// configured secret is tried (rotation), every comparison is constant-time, and the
// timestamp must lie within the tolerance of our clock. The simulated gateway signs with
// the same functions, so both ends agree on the bytes by construction.
import { createHmac, timingSafeEqual } from "node:crypto";

export const SIGNATURE_SCHEME = "v1";
export const TIMESTAMP_TOLERANCE_SECONDS = 300;
const HEX64 = /^[0-9a-f]{64}$/;
const TIMESTAMP = /^\d{1,12}$/;

function mac(secret: string, timestamp: string, rawBody: Uint8Array): Buffer {
  return createHmac("sha256", secret).update(`${timestamp}.`).update(rawBody).digest();
}

/** The lowercase hex HMAC of one delivery. */
export function sign(secret: string, timestamp: string, rawBody: Uint8Array): string {
  return mac(secret, timestamp, rawBody).toString("hex");
}

/** The `x-webhook-signature` header value for one delivery. */
export function signatureHeader(secret: string, timestamp: string, rawBody: Uint8Array): string {
  return `${SIGNATURE_SCHEME}=${sign(secret, timestamp, rawBody)}`;
}

/** The v1 signatures of a header, decoded; other schemes and malformed parts are skipped. */
export function parseSignatures(header: string): Buffer[] {
  const out: Buffer[] = [];
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const scheme = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim().toLowerCase();
    if (scheme === SIGNATURE_SCHEME && HEX64.test(value)) out.push(Buffer.from(value, "hex"));
    if (out.length >= 8) break;
  }
  return out;
}

export type SignatureCheck =
  | { ok: true; timestampSeconds: number; secretIndex: number }
  | { ok: false; reason: "WEBHOOK_SIGNATURE_INVALID" | "WEBHOOK_TIMESTAMP_STALE"; message: string };

export interface SignedDelivery {
  rawBody: Uint8Array;
  timestampHeader: string;
  signatureHeader: string;
}

/**
 * Verifies one delivery against every accepted secret. The signature is checked before
 * the timestamp's age, so an unsigned request learns nothing about our clock.
 */
export function verifyDelivery(d: SignedDelivery, secrets: readonly string[], nowMs: number, toleranceSeconds = TIMESTAMP_TOLERANCE_SECONDS): SignatureCheck {
  const ts = d.timestampHeader.trim();
  if (!TIMESTAMP.test(ts)) return { ok: false, reason: "WEBHOOK_SIGNATURE_INVALID", message: "x-webhook-timestamp must be Unix seconds" };
  const candidates = parseSignatures(d.signatureHeader);
  if (candidates.length === 0 || secrets.length === 0) return { ok: false, reason: "WEBHOOK_SIGNATURE_INVALID", message: "webhook signature invalid" };
  let matched = -1;
  // No early exit: the work done does not depend on which secret or candidate matched.
  secrets.forEach((secret, i) => {
    const expected = mac(secret, ts, d.rawBody);
    for (const c of candidates) {
      if (timingSafeEqual(expected, c) && matched < 0) matched = i;
    }
  });
  if (matched < 0) return { ok: false, reason: "WEBHOOK_SIGNATURE_INVALID", message: "webhook signature invalid" };
  const seconds = Number(ts);
  if (Math.abs(nowMs / 1000 - seconds) > toleranceSeconds) {
    return { ok: false, reason: "WEBHOOK_TIMESTAMP_STALE", message: `webhook timestamp is more than ${toleranceSeconds} s from our clock` };
  }
  return { ok: true, timestampSeconds: seconds, secretIndex: matched };
}
