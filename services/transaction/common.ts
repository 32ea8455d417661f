// Input helpers shared by the handlers.
import type { Money } from "../../gen/fuel/common/v1/common_pb.js";
import { moneyIn as readMoney } from "../../platform/money.js";

/** A Money field: present, a valid currency (equal to `currency` if given), amount ≥ min (platform/money.ts reads it). */
export function moneyIn(field: string, m: Money | undefined, min: bigint, currency?: string): { amount: bigint; currency: string } {
  const a = readMoney(field, m, { min, currency });
  return { amount: a.amountMinor, currency: a.currency };
}

export const dateOf = (t: { seconds: bigint; nanos: number } | undefined): Date | undefined =>
  t ? new Date(Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6)) : undefined;
