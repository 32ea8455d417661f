// Input helpers shared by the handlers.
import type { Money } from "../../gen/fuel/common/v1/common_pb.js";
import { invalidArgument } from "../../platform/errors.js";
import * as v from "../../platform/validate.js";

/** A Money field: present, a valid currency (equal to `currency` if given), amount ≥ min. */
export function moneyIn(field: string, m: Money | undefined, min: bigint, currency?: string): { amount: bigint; currency: string } {
  if (!m) throw invalidArgument(field, "is required");
  v.currency(`${field}.currency`, m.currency);
  if (currency !== undefined && m.currency !== currency) throw invalidArgument(`${field}.currency`, `must be ${currency}`);
  if (m.amountMinor < min) throw invalidArgument(`${field}.amount_minor`, min === 1n ? "must be > 0" : `must be ≥ ${min}`);
  return { amount: m.amountMinor, currency: m.currency };
}

export const dateOf = (t: { seconds: bigint; nanos: number } | undefined): Date | undefined =>
  t ? new Date(Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6)) : undefined;
