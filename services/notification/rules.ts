// Input rules specific to notifications (the shared ones live in platform/validate.ts).
// Each throws INVALID_ARGUMENT naming the proto field.
import { invalidArgument } from "../../platform/errors.js";

// Control characters other than tab, line feed and carriage return.
const CONTROL_EXCEPT_NEWLINES = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

/** Message text that may span lines: trimmed, min..max characters, no other control characters. */
export function messageText(field: string, value: string, min: number, max: number): string {
  const v = value.trim();
  if (v.length < min) throw invalidArgument(field, min === 1 ? "is required" : `must be at least ${min} characters`);
  if (v.length > max) throw invalidArgument(field, `must be at most ${max} characters`);
  if (CONTROL_EXCEPT_NEWLINES.test(v)) throw invalidArgument(field, "must not contain control characters");
  return v.replace(/\r\n?/g, "\n");
}

const KIND = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$/;

/** Optional UPPER_SNAKE kind, up to 64 characters. */
export function kind(field: string, value: string): string {
  if (value === "") return "";
  if (value.length > 64) throw invalidArgument(field, "must be at most 64 characters");
  if (!KIND.test(value)) throw invalidArgument(field, "must be UPPER_SNAKE, like KYC_DOCUMENT_APPROVED");
  return value;
}

const DEVICE_TOKEN = /^[\x21-\x7e]+$/;

export function deviceToken(field: string, value: string): string {
  if (value.length < 10 || value.length > 4096) throw invalidArgument(field, "must be 10 to 4 096 characters");
  if (!DEVICE_TOKEN.test(value)) throw invalidArgument(field, "must be printable ASCII without spaces");
  return value;
}

// FCM refuses these data keys.
const RESERVED_DATA_KEYS = new Set(["from", "notification", "message_type", "collapse_key"]);
const DATA_KEY = /^[A-Za-z0-9_.-]{1,64}$/;
export const MAX_DATA_ENTRIES = 20;
const MAX_DATA_VALUE = 1024;
const MAX_DATA_BYTES = 3 * 1024;

/** Push data: at most 20 entries, FCM-safe keys, bounded values and total size. */
export function pushData(field: string, data: Record<string, string>): Record<string, string> {
  const entries = Object.entries(data);
  if (entries.length > MAX_DATA_ENTRIES) throw invalidArgument(field, `must have at most ${MAX_DATA_ENTRIES} entries`);
  let bytes = 0;
  for (const [k, v] of entries) {
    if (!DATA_KEY.test(k)) throw invalidArgument(field, "keys must be 1-64 letters, digits, '_', '.' or '-'");
    const lower = k.toLowerCase();
    if (RESERVED_DATA_KEYS.has(lower) || lower.startsWith("google") || lower.startsWith("gcm")) {
      throw invalidArgument(field, `key "${k}" is reserved by the push provider`);
    }
    if (v.length > MAX_DATA_VALUE) throw invalidArgument(field, `values must be at most ${MAX_DATA_VALUE} characters`);
    if (CONTROL_EXCEPT_NEWLINES.test(v)) throw invalidArgument(field, "values must not contain control characters");
    bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  if (bytes > MAX_DATA_BYTES) throw invalidArgument(field, `must be at most ${MAX_DATA_BYTES} bytes in all`);
  return Object.fromEntries(entries);
}
