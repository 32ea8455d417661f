// Money, times and enum names as people read them. Money is exact: minor units are a
// bigint and never pass through a float.
import type { DescEnum } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { Money } from "../../gen/fuel/common/v1/common_pb.js";

export function minorDigits(currency: string): number {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    return 2;
  }
}

export function money(m: Money | undefined): string {
  if (!m || !m.currency) return "—";
  return minorAmount(m.amountMinor, m.currency);
}

export function minorAmount(minor: bigint, currency: string): string {
  const digits = minorDigits(currency);
  const neg = minor < 0n;
  const abs = neg ? -minor : minor;
  const scale = 10n ** BigInt(digits);
  const major = new Intl.NumberFormat("en").format(abs / scale);
  const frac = digits ? `.${(abs % scale).toString().padStart(digits, "0")}` : "";
  return `${neg ? "−" : ""}${currency} ${major}${frac}`;
}

/** "1,500.5" in `currency` → minor units; null when it is not an amount. */
export function parseAmount(text: string, currency: string): bigint | null {
  const digits = minorDigits(currency);
  const t = text.replace(/[,\s]/g, "");
  const m = /^(\d{1,15})(?:\.(\d*))?$/.exec(t);
  if (!m || (m[2] ?? "").length > digits) return null;
  return BigInt(m[1]!) * 10n ** BigInt(digits) + BigInt((m[2] ?? "").padEnd(digits, "0") || "0");
}

export function when(ts: Timestamp | undefined): string {
  if (!ts) return "—";
  return timestampDate(ts).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
}

export function ago(ts: Timestamp | undefined, now = Date.now()): string {
  if (!ts) return "never";
  const s = Math.round((now - timestampDate(ts).getTime()) / 1000);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

/** An enum value's name without its prefix, in words: FUEL_TYPE_PETROL → "Petrol". */
export function named(e: DescEnum, value: number): string {
  const v = e.values.find((x) => x.number === value);
  if (!v) return "—";
  const words = v.localName.toLowerCase().replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function litres(ml: bigint | undefined): string {
  if (ml === undefined) return "unknown";
  return `${new Intl.NumberFormat("en").format(ml / 1000n)} L`;
}

export function shortId(id: string): string {
  return id ? `${id.slice(0, 8)}…` : "—";
}
