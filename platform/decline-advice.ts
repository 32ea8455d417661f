// What to do about a decline, per reason: the advice code a terminal acts on (card
// networks' advice codes). One advice per reason, checked complete by the type: a new
// DeclineReason does not compile until it has one. The proto comments of DeclineReason
// name the same advice; test/decline-advice.test.ts holds the two together.
import { DeclineAdvice, DeclineReason } from "../gen/fuel/credit/v1/credit_line_pb.js";

const ADVICE: Record<DeclineReason, DeclineAdvice> = {
  [DeclineReason.UNSPECIFIED]: DeclineAdvice.UNSPECIFIED,
  [DeclineReason.NO_CREDIT_LINE]: DeclineAdvice.CONTACT_LENDER,
  [DeclineReason.CREDIT_LINE_FROZEN]: DeclineAdvice.CONTACT_LENDER,
  [DeclineReason.CREDIT_LINE_CLOSED]: DeclineAdvice.CONTACT_LENDER,
  [DeclineReason.PARENT_LINE_FROZEN]: DeclineAdvice.CONTACT_LENDER,
  [DeclineReason.INSUFFICIENT_CREDIT]: DeclineAdvice.REDUCE_AMOUNT,
  [DeclineReason.PARENT_INSUFFICIENT_CREDIT]: DeclineAdvice.REDUCE_AMOUNT,
  [DeclineReason.PER_TRANSACTION_LIMIT_EXCEEDED]: DeclineAdvice.REDUCE_AMOUNT,
  [DeclineReason.DAILY_LIMIT_EXCEEDED]: DeclineAdvice.REDUCE_AMOUNT,
  [DeclineReason.DAILY_COUNT_EXCEEDED]: DeclineAdvice.RETRY_LATER,
  [DeclineReason.FUEL_TYPE_NOT_ALLOWED]: DeclineAdvice.DO_NOT_RETRY,
  [DeclineReason.STATION_NOT_ALLOWED]: DeclineAdvice.DO_NOT_RETRY,
  [DeclineReason.OUTSIDE_ALLOWED_HOURS]: DeclineAdvice.RETRY_LATER,
  [DeclineReason.CURRENCY_MISMATCH]: DeclineAdvice.DO_NOT_RETRY,
  [DeclineReason.BELOW_MINIMUM_AMOUNT]: DeclineAdvice.REDUCE_AMOUNT,
  [DeclineReason.DRIVER_INACTIVE]: DeclineAdvice.CONTACT_LENDER,
  [DeclineReason.KYC_NOT_VERIFIED]: DeclineAdvice.DO_NOT_RETRY,
  [DeclineReason.PROGRAM_CAP_EXCEEDED]: DeclineAdvice.RETRY_LATER,
  [DeclineReason.PROGRAM_INACTIVE]: DeclineAdvice.CONTACT_LENDER,
};

export function adviceFor(reason: DeclineReason): DeclineAdvice {
  // A reason from a newer peer than this build: nothing we can say beyond "ask".
  return ADVICE[reason] ?? DeclineAdvice.CONTACT_LENDER;
}

/** The driver's notice: why, and what to do, in words. */
export function declineWords(reason: DeclineReason): { why: string; todo: string } {
  const todo: Record<DeclineAdvice, string> = {
    [DeclineAdvice.UNSPECIFIED]: "",
    [DeclineAdvice.RETRY_LATER]: "Try again later.",
    [DeclineAdvice.REDUCE_AMOUNT]: "Ask the attendant for a smaller amount; the app shows what you can spend now.",
    [DeclineAdvice.DO_NOT_RETRY]: "Trying again will not help.",
    [DeclineAdvice.CONTACT_LENDER]: "Contact your bank or agency.",
  };
  return { why: WHY[reason] ?? "the purchase was declined", todo: todo[adviceFor(reason)] };
}

const WHY: Record<DeclineReason, string> = {
  [DeclineReason.UNSPECIFIED]: "the purchase was declined",
  [DeclineReason.NO_CREDIT_LINE]: "you have no open fuel credit line",
  [DeclineReason.CREDIT_LINE_FROZEN]: "your credit line is frozen",
  [DeclineReason.CREDIT_LINE_CLOSED]: "your credit line is closed",
  [DeclineReason.PARENT_LINE_FROZEN]: "your agency's credit line is frozen",
  [DeclineReason.INSUFFICIENT_CREDIT]: "there is not enough credit left on your line",
  [DeclineReason.PARENT_INSUFFICIENT_CREDIT]: "there is not enough credit left on your agency's line",
  [DeclineReason.PER_TRANSACTION_LIMIT_EXCEEDED]: "the amount is above your limit for one purchase",
  [DeclineReason.DAILY_LIMIT_EXCEEDED]: "the amount is above what is left of your daily limit",
  [DeclineReason.DAILY_COUNT_EXCEEDED]: "you reached today's number of purchases",
  [DeclineReason.FUEL_TYPE_NOT_ALLOWED]: "this fuel type is not allowed on your line",
  [DeclineReason.STATION_NOT_ALLOWED]: "this station is not allowed on your line",
  [DeclineReason.OUTSIDE_ALLOWED_HOURS]: "your line cannot be used at this hour",
  [DeclineReason.CURRENCY_MISMATCH]: "the station's currency is not your line's",
  [DeclineReason.BELOW_MINIMUM_AMOUNT]: "less than the minimum asked for is available",
  [DeclineReason.DRIVER_INACTIVE]: "your account is not active",
  [DeclineReason.KYC_NOT_VERIFIED]: "your identity verification is not complete",
  [DeclineReason.PROGRAM_CAP_EXCEEDED]: "your bank's fuel credit program is fully used for now",
  [DeclineReason.PROGRAM_INACTIVE]: "your bank's fuel credit program is closed",
};
