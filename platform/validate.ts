// Input validation rules shared by every service. Each check throws INVALID_ARGUMENT
// naming the proto field, so a client can point at the exact input that was wrong.
import { invalidArgument } from "./errors.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const E164 = /^\+[1-9]\d{7,14}$/;
const EMAIL = /^[^\s@<>()[\]\\,;:"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
const CURRENCY = /^[A-Z]{3}$/;
// Control characters (C0, DEL, C1) and Unicode line/paragraph separators.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

export function uuid(field: string, value: string): string {
  if (!UUID.test(value)) throw invalidArgument(field, value === "" ? "is required" : "must be a UUID");
  return value.toLowerCase();
}

export function optionalUuid(field: string, value: string): string | null {
  return value === "" ? null : uuid(field, value);
}

export function phone(field: string, value: string): string {
  if (!E164.test(value)) throw invalidArgument(field, "must be an E.164 phone number like +2348012345678");
  return value;
}

export function email(field: string, value: string): string {
  if (value.length > 254 || !EMAIL.test(value)) throw invalidArgument(field, "must be an e-mail address");
  return value.toLowerCase();
}

export function currency(field: string, value: string): string {
  if (!CURRENCY.test(value)) throw invalidArgument(field, "must be an ISO-4217 code of three upper-case letters");
  return value;
}

/** Trimmed text of bounded length without control characters. */
export function text(field: string, value: string, min: number, max: number): string {
  const v = value.trim();
  if (v.length < min) throw invalidArgument(field, min === 1 ? "is required" : `must be at least ${min} characters`);
  if (v.length > max) throw invalidArgument(field, `must be at most ${max} characters`);
  if (CONTROL.test(v)) throw invalidArgument(field, "must not contain control characters");
  return v;
}

export function pattern(field: string, value: string, re: RegExp, description: string): string {
  if (!re.test(value)) throw invalidArgument(field, description);
  return value;
}

export function intRange(field: string, value: number | bigint, min: number | bigint, max: number | bigint): void {
  if (value < min || value > max) throw invalidArgument(field, `must be from ${min} to ${max}`);
}

/** An enum value that is set and known. */
export function enumValue<E extends Record<string, string | number>>(field: string, value: number, e: E, allowed?: number[]): number {
  const known = typeof e[value as unknown as keyof E] === "string";
  if (value === 0 || !known || (allowed && !allowed.includes(value))) {
    throw invalidArgument(field, value === 0 ? "is required" : "is not an accepted value");
  }
  return value;
}

export const PAGE_SIZE_DEFAULT = 50;
export const PAGE_SIZE_MAX = 200;

/**
 * The one page-size rule of every List method (AIP-158): 0 asks for the default, more
 * than the maximum is served as the maximum (the caller pages on with the token), and
 * only a negative size is a mistake.
 */
export function pageSize(value: number, bounds: { defaultSize: number; maxSize: number } = { defaultSize: PAGE_SIZE_DEFAULT, maxSize: PAGE_SIZE_MAX }): number {
  if (value < 0) throw invalidArgument("page_size", "must not be negative");
  if (value === 0) return bounds.defaultSize;
  return Math.min(value, bounds.maxSize);
}

/**
 * Page tokens are opaque to clients: base64url JSON of the last row's sort key.
 * A token that does not decode is INVALID_ARGUMENT, never an error from SQL.
 */
export function encodePageToken(key: Record<string, string>): string {
  return Buffer.from(JSON.stringify(key)).toString("base64url");
}

export function decodePageToken<K extends string>(value: string, keys: K[], field = "page_token"): Record<K, string> | null {
  if (value === "") return null;
  try {
    const parsed = JSON.parse(Buffer.from(value, "base64url").toString("utf8")) as Record<string, unknown>;
    for (const k of keys) if (typeof parsed[k] !== "string") throw new Error("bad");
    return parsed as Record<K, string>;
  } catch {
    throw invalidArgument(field, "is not a token from a previous response");
  }
}

export function maskPhone(phone: string): string {
  return phone.length <= 6 ? "***" : phone.slice(0, 4) + "*".repeat(phone.length - 7) + phone.slice(-3);
}

export function maskTail(value: string, keep: number): string {
  if (value.length <= keep) return "*".repeat(value.length);
  return "*".repeat(value.length - keep) + value.slice(-keep);
}

export function maskEmail(email: string): string {
  const [user, domain] = email.split("@");
  return `${user?.[0] ?? ""}***@${domain ?? ""}`;
}
