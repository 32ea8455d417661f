// Aging (Fineract-style), pure. What is past due and for how long follows from the
// balances and the due date; the status follows from what is past due; the aging job
// applies the difference between the stored status and this one and owes the borrower a
// notice on becoming overdue, on default, and once `reminder_days_before_due` before due.
import { LoanStatus } from "../../gen/fuel/loan/v1/loan_pb.js";
import { daysBefore, fullDaysBetween } from "./due-date.js";

export interface PastDue {
  /** Everything outstanding once the due time has passed; zero before. */
  amountPastDue: bigint;
  /** Whole days since the due time while something is past due; 0 otherwise. */
  daysPastDue: number;
}

export function pastDue(totalOutstanding: bigint, due: Date, asOf: Date): PastDue {
  if (totalOutstanding <= 0n || asOf.getTime() <= due.getTime()) return { amountPastDue: 0n, daysPastDue: 0 };
  return { amountPastDue: totalOutstanding, daysPastDue: fullDaysBetween(due, asOf) };
}

/** The status a loan should have. Nothing outstanding → PAID_OFF; nothing past due → ACTIVE. */
export function agedStatus(totalOutstanding: bigint, p: PastDue, defaultAfterDays: number): LoanStatus {
  if (totalOutstanding <= 0n) return LoanStatus.PAID_OFF;
  if (p.amountPastDue <= 0n) return LoanStatus.ACTIVE;
  if (p.daysPastDue >= defaultAfterDays) return LoanStatus.DEFAULTED;
  return LoanStatus.OVERDUE;
}

export type Notice = "DUE_REMINDER" | "OVERDUE" | "DEFAULTED";

export interface AgingInput {
  current: LoanStatus;
  totalOutstanding: bigint;
  due: Date;
  asOf: Date;
  defaultAfterDays: number;
  reminderDaysBeforeDue: number;
  reminderSent: boolean;
}

export interface AgingDecision {
  /** The new status, or null when it stays. */
  to: LoanStatus | null;
  daysPastDue: number;
  notices: Notice[];
}

/** What one aging run does to one loan. PAID_OFF is terminal. */
export function decideAging(i: AgingInput): AgingDecision {
  const p = pastDue(i.totalOutstanding, i.due, i.asOf);
  if (i.current === LoanStatus.PAID_OFF) return { to: null, daysPastDue: 0, notices: [] };
  const next = agedStatus(i.totalOutstanding, p, i.defaultAfterDays);
  const to = next === i.current ? null : next;
  const notices: Notice[] = [];
  if (to === LoanStatus.OVERDUE && i.current === LoanStatus.ACTIVE) notices.push("OVERDUE");
  if (to === LoanStatus.DEFAULTED) notices.push("DEFAULTED");
  if (next === LoanStatus.ACTIVE && reminderDue(i)) notices.push("DUE_REMINDER");
  return { to, daysPastDue: p.daysPastDue, notices };
}

/** The reminder window: from `reminder_days_before_due` before due until due; once per loan. */
export function reminderDue(i: Pick<AgingInput, "due" | "asOf" | "reminderDaysBeforeDue" | "reminderSent" | "totalOutstanding">): boolean {
  if (i.reminderDaysBeforeDue <= 0 || i.reminderSent || i.totalOutstanding <= 0n) return false;
  const t = i.asOf.getTime();
  return t >= daysBefore(i.due, i.reminderDaysBeforeDue).getTime() && t <= i.due.getTime();
}
