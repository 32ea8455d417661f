// Pure OTP rules: how a code is made, how it is kept (only as an HMAC), and what one
// verification attempt means. No I/O here; otp-store.ts applies these to Redis.
import { createHmac, randomBytes, randomInt, timingSafeEqual } from "node:crypto";

export const OTP_DIGITS = 6;
/** A code lives this long. */
export const OTP_TTL_MS = 5 * 60_000;
/** Wrong tries a code survives; the fifth wrong try kills it. */
export const OTP_MAX_TRIES = 5;
/** Seconds before another code may be requested for the same phone. */
export const OTP_RESEND_COOLDOWN_S = 30;

export const CODE_PATTERN = /^\d{6}$/;

/** A fresh 6-digit code from the CSPRNG (uniform over 000000–999999). */
export function generateCode(): string {
  return String(randomInt(0, 10 ** OTP_DIGITS)).padStart(OTP_DIGITS, "0");
}

/** An id for one issued code; it scopes that code's try counter and its single use. */
export function generateCodeId(): string {
  return randomBytes(12).toString("base64url");
}

/** The phone as it appears in Redis key names: an HMAC, so keys never hold a phone. */
export function phoneKey(hmacKey: Uint8Array, phone: string): string {
  return createHmac("sha256", hmacKey).update("otp-phone\0").update(phone).digest("base64url");
}

/** The stored form of a code: HMAC over the phone key, the code id and the code. */
export function codeMac(hmacKey: Uint8Array, phoneKeyValue: string, codeId: string, code: string): string {
  return createHmac("sha256", hmacKey).update("otp-code\0").update(phoneKeyValue).update("\0").update(codeId).update("\0").update(code).digest("base64url");
}

export function macEquals(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** What Redis holds for a phone's current code. */
export interface OtpRecord {
  /** Code id. */
  id: string;
  /** codeMac(...) of the code. */
  mac: string;
  /** Expiry, ms since epoch on the service clock. */
  exp: number;
}

export type AttemptOutcome = "match" | "mismatch" | "expired" | "exhausted";

/**
 * Judges one attempt. `tryNumber` is this attempt's 1-based position among all attempts
 * at this code (an atomic counter), so racing guessers together get at most OTP_MAX_TRIES.
 */
export function judgeAttempt(rec: OtpRecord, nowMs: number, tryNumber: number, presentedMac: string): AttemptOutcome {
  if (nowMs >= rec.exp) return "expired";
  if (tryNumber > OTP_MAX_TRIES) return "exhausted";
  return macEquals(presentedMac, rec.mac) ? "match" : "mismatch";
}

/** After a wrong try, whether the code is now dead (and should be deleted). */
export function diesAfterMismatch(tryNumber: number): boolean {
  return tryNumber >= OTP_MAX_TRIES;
}

export function smsBody(code: string): string {
  return `${code} is your Fuel Credit verification code. It expires in ${OTP_TTL_MS / 60_000} minutes. Never share it with anyone.`;
}
