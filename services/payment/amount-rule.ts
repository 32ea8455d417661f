// Money rules of payments (pure; bigint minor units, never floats): resolving the
// requested allocations against the loans' outstanding balances, matching what the
// gateway reports against what we asked for, and the result of applying one allocation.
import { invalidArgument, failedPrecondition } from "../../platform/errors.js";

export interface Amount {
  amount: bigint;
  currency: string;
}

export type Mismatch = "AMOUNT_MISMATCH" | "CURRENCY_MISMATCH";

/** Whether what the gateway collected is exactly what we asked it to collect. */
export function matchReceived(expected: Amount, received: Amount): Mismatch | null {
  if (received.currency !== expected.currency) return "CURRENCY_MISMATCH";
  if (received.amount !== expected.amount) return "AMOUNT_MISMATCH";
  return null;
}

export interface RequestedAllocation {
  loanId: string;
  /** Unset = the loan's total outstanding. */
  amount?: Amount;
}

export interface LoanBalance {
  loanId: string;
  currency: string;
  totalOutstanding: bigint;
  paidOff: boolean;
}

export interface ResolvedAllocation {
  loanId: string;
  amount: bigint;
}

/**
 * Turns the request into allocations, in request order: each loan in one currency,
 * amount > 0 and ≤ its outstanding. `loans[i]` belongs to `requested[i]`.
 */
export function resolveAllocations(requested: RequestedAllocation[], loans: LoanBalance[]): { currency: string; total: bigint; allocations: ResolvedAllocation[] } {
  const currency = loans[0]?.currency ?? "";
  const allocations: ResolvedAllocation[] = [];
  let total = 0n;
  requested.forEach((r, i) => {
    const loan = loans[i]!;
    if (loan.currency !== currency) {
      throw invalidArgument(`allocations[${i}].loan_id`, `is a ${loan.currency} loan; all loans of a payment must be in one currency (${currency})`, "MIXED_CURRENCIES");
    }
    if (r.amount && r.amount.currency !== loan.currency) {
      throw invalidArgument(`allocations[${i}].amount.currency`, `must be the loan's currency ${loan.currency}`, "MIXED_CURRENCIES");
    }
    if (loan.paidOff || loan.totalOutstanding <= 0n) {
      throw failedPrecondition("LOAN_PAID_OFF", `loan ${loan.loanId} is paid off`, { loan_id: loan.loanId, outstanding_minor: "0" });
    }
    const amount = r.amount ? r.amount.amount : loan.totalOutstanding;
    if (amount > loan.totalOutstanding) {
      throw failedPrecondition("AMOUNT_EXCEEDS_OUTSTANDING", `allocation exceeds what loan ${loan.loanId} owes`, {
        loan_id: loan.loanId,
        outstanding_minor: loan.totalOutstanding.toString(),
      });
    }
    allocations.push({ loanId: loan.loanId, amount });
    total += amount;
  });
  return { currency, total, allocations };
}

export type AllocationResult = "APPLIED" | "PARTIALLY_APPLIED" | "NOT_APPLIED";

/** What applying `amount` did when the loan returned `unapplied` of it. */
export function allocationResult(amount: bigint, unapplied: bigint): { applied: bigint; status: AllocationResult } {
  const rest = unapplied < 0n ? 0n : unapplied > amount ? amount : unapplied;
  const applied = amount - rest;
  return { applied, status: applied === 0n ? "NOT_APPLIED" : rest > 0n ? "PARTIALLY_APPLIED" : "APPLIED" };
}
