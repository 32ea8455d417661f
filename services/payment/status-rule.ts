// Payment status transitions (pure). Statuses only move forward:
//   PENDING → SUCCEEDED | FAILED | EXPIRED | NEEDS_REVIEW
//   FAILED  → SUCCEEDED   (the payer retried the checkout and it went through)
//   EXPIRED → SUCCEEDED   (money the gateway collected is never ignored; see decideEvent)
//   SUCCEEDED → NEEDS_REVIEW (part of the money could not be applied; set by the outbox)
// Nothing leaves SUCCEEDED back to PENDING, FAILED or EXPIRED, and NEEDS_REVIEW belongs to
// an operator. Gateway events may arrive in any order and more than once; decideEvent
// turns (current status, event) into what to do.
import { matchReceived, type Amount, type Mismatch } from "./amount-rule.js";

export type PayStatus = "PENDING" | "SUCCEEDED" | "FAILED" | "EXPIRED" | "NEEDS_REVIEW";
export type EventKind = "SUCCEEDED" | "FAILED" | "EXPIRED";
export type Outcome = "APPLIED" | "IGNORED_OUT_OF_ORDER" | "FLAGGED" | "UNCHANGED";

const FORWARD: Record<PayStatus, readonly PayStatus[]> = {
  PENDING: ["SUCCEEDED", "FAILED", "EXPIRED", "NEEDS_REVIEW"],
  FAILED: ["SUCCEEDED", "NEEDS_REVIEW"],
  EXPIRED: ["SUCCEEDED", "NEEDS_REVIEW"],
  SUCCEEDED: ["NEEDS_REVIEW"],
  NEEDS_REVIEW: [],
};

export function canTransition(from: PayStatus, to: PayStatus): boolean {
  return FORWARD[from].includes(to);
}

export type EventDecision =
  | { outcome: "APPLIED"; status: PayStatus }
  | { outcome: "FLAGGED"; status: "NEEDS_REVIEW"; reviewReason: Mismatch }
  | { outcome: "IGNORED_OUT_OF_ORDER" | "UNCHANGED"; status: PayStatus };

/**
 * What a gateway event does to a payment. `expected` is what we asked the gateway to
 * collect; `received` is what a SUCCEEDED event reports (required for SUCCEEDED).
 */
export function decideEvent(current: PayStatus, kind: EventKind, expected: Amount, received?: Amount): EventDecision {
  const target: PayStatus = kind;
  if (current === target) return { outcome: "UNCHANGED", status: current };
  if (current === "NEEDS_REVIEW") {
    // An operator owns it now; a success report is no news, anything else is late.
    return { outcome: kind === "SUCCEEDED" ? "UNCHANGED" : "IGNORED_OUT_OF_ORDER", status: current };
  }
  if (!canTransition(current, target)) return { outcome: "IGNORED_OUT_OF_ORDER", status: current };
  if (kind === "SUCCEEDED") {
    const mismatch = received ? matchReceived(expected, received) : "AMOUNT_MISMATCH";
    if (mismatch) return { outcome: "FLAGGED", status: "NEEDS_REVIEW", reviewReason: mismatch };
  }
  return { outcome: "APPLIED", status: target };
}
