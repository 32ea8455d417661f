// The notices a decline owes: the driver's (why, and what to do) and, for a decline on an
// agency's line, the agency admins'. Pure: built from the recorded transaction; the outbox
// (outbox.ts) delivers them.
import { DeclineAdvice, DeclineReason } from "../../gen/fuel/credit/v1/credit_line_pb.js";
import { FuelType } from "../../gen/fuel/common/v1/common_pb.js";
import { adviceFor, declineWords } from "../../platform/decline-advice.js";
import { moneyText } from "../../platform/money-text.js";

/** What the outbox row carries (store.ts builds it from the recorded row): enough to word both notices. */
export interface DeclineNotice {
  transactionId: string;
  driverId: string;
  /** The driver's agency when the purchase was on an agency's line; "" otherwise. */
  agencyId: string;
  reason: DeclineReason;
  fuelType: FuelType;
  amountMinor: string;
  currency: string;
}

export interface NoticeText {
  title: string;
  body: string;
  kind: string;
  /** For the app: what to show and do without parsing the words. */
  data: Record<string, string>;
}

const fuelName = (f: FuelType) => (FuelType[f] ?? "fuel").toLowerCase();

export function driverText(n: DeclineNotice): NoticeText {
  const { why, todo } = declineWords(n.reason);
  return {
    kind: "PURCHASE_DECLINED",
    title: "Fuel purchase declined",
    body: `Your ${fuelName(n.fuelType)} purchase of ${moneyText(BigInt(n.amountMinor), n.currency)} was declined: ${why}. ${todo}`,
    data: data(n),
  };
}

export function agencyText(n: DeclineNotice, driverName: string): NoticeText {
  const words = (name: string | undefined) => (name ?? "unknown").toLowerCase().replace(/_/g, " ");
  return {
    kind: "DRIVER_PURCHASE_DECLINED",
    title: "A driver's fuel purchase was declined",
    body: `${driverName}'s ${fuelName(n.fuelType)} purchase of ${moneyText(BigInt(n.amountMinor), n.currency)} was declined (${words(DeclineReason[n.reason])}); advice to the driver: ${words(DeclineAdvice[adviceFor(n.reason)])}.`,
    data: data(n),
  };
}

function data(n: DeclineNotice): Record<string, string> {
  return { transaction_id: n.transactionId, decline_reason: `DECLINE_REASON_${DeclineReason[n.reason]}`, decline_advice: `DECLINE_ADVICE_${DeclineAdvice[adviceFor(n.reason)]}` };
}
