// Money for people to read (notices, receipts): integer minor units → "NGN 18,000.00".
// Exact end to end: the decimal string is cut from the bigint, and Intl formats decimal
// strings as written (no float on the way, even past 2^53). The number of decimals is
// the currency's own (ISO 4217: NGN 2, JPY 0, KWD 3), as Intl knows it.

/** Formatters are built once per currency; a few dozen currencies at most ever pass. */
const FORMATTERS_MAX = 64;
const formatters = new Map<string, { format: (decimal: string) => string; exponent: number }>();

/** "code" ("NGN 18,000.00") fits any channel, SMS included; "symbol" ("₦18,000.00") reads best on screens. */
export type MoneyDisplay = "code" | "symbol";

function formatterFor(currency: string, display: MoneyDisplay) {
  const key = `${currency}/${display}`;
  let f = formatters.get(key);
  if (f) return f;
  try {
    const nf = new Intl.NumberFormat("en", { style: "currency", currency, currencyDisplay: display === "code" ? "code" : "narrowSymbol" });
    // Node's typings take numbers; Intl itself takes decimal strings (Intl.NumberFormat v3).
    f = { format: (d) => nf.format(d as unknown as number), exponent: nf.resolvedOptions().maximumFractionDigits ?? 2 };
  } catch {
    // Not a code Intl accepts: say the code and two decimals rather than fail a notice.
    f = { format: (d) => `${currency} ${d}`, exponent: 2 };
  }
  if (formatters.size < FORMATTERS_MAX) formatters.set(key, f);
  return f;
}

/** `minor` with `exponent` digits after the point: (180000050n, 2) → "1800000.50". */
export function decimalString(minor: bigint, exponent: number): string {
  const sign = minor < 0n ? "-" : "";
  const digits = (minor < 0n ? -minor : minor).toString();
  if (exponent === 0) return sign + digits;
  const padded = digits.padStart(exponent + 1, "0");
  return `${sign}${padded.slice(0, -exponent)}.${padded.slice(-exponent)}`;
}

/** "NGN 18,000.00" for (1_800_000n, "NGN"); "₦18,000.00" with display "symbol". */
export function moneyText(minor: bigint, currency: string, display: MoneyDisplay = "code"): string {
  const f = formatterFor(currency, display);
  return f.format(decimalString(minor, f.exponent));
}
