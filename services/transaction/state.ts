// The persisted state machine of a fuel transaction. Each arrow that calls another service
// is split in two: the intent is committed first (PENDING, CAPTURING, VOIDING), then the
// call is made with a key derived from the transaction id, then the result is recorded.
//
//   PENDING ──hold approved──▶ AUTHORIZED ──settle──▶ CAPTURING ──captured──▶ CAPTURED ──loan──▶ SETTLED
//      └──declined──▶ DECLINED     │  └──void──▶ VOIDING ──voided──▶ VOIDED    (amount 0: CAPTURING ──▶ SETTLED)
//                                  └──hold expired──▶ EXPIRED  (also from CAPTURING / VOIDING)
//
// The public TransactionStatus never claims more than has happened: CAPTURING and VOIDING
// are still AUTHORIZED to the outside (their outcome is not recorded yet), CAPTURED is
// CAPTURED (the money moved, the sale is final, the loan does not exist yet), and SETTLED
// means the loan exists (or nothing was captured). Every row move names its transition,
// and store.ts refuses one that is not an arrow here.
import { TransactionStatus } from "../../gen/fuel/transaction/v1/transaction_pb.js";

export type State = "PENDING" | "AUTHORIZED" | "DECLINED" | "CAPTURING" | "CAPTURED" | "SETTLED" | "VOIDING" | "VOIDED" | "EXPIRED";

export const STATES: readonly State[] = ["PENDING", "AUTHORIZED", "DECLINED", "CAPTURING", "CAPTURED", "SETTLED", "VOIDING", "VOIDED", "EXPIRED"];

const NEXT: Record<State, readonly State[]> = {
  PENDING: ["AUTHORIZED", "DECLINED"],
  AUTHORIZED: ["CAPTURING", "VOIDING", "EXPIRED"],
  CAPTURING: ["CAPTURED", "SETTLED", "EXPIRED"],
  CAPTURED: ["SETTLED"],
  VOIDING: ["VOIDED", "EXPIRED"],
  DECLINED: [],
  SETTLED: [],
  VOIDED: [],
  EXPIRED: [],
};

export function canTransition(from: State, to: State): boolean {
  return NEXT[from].includes(to);
}

/** A move from any of `from` to `to` that is not an arrow of the machine is a bug: refuse it before SQL. */
export function checkTransition(from: readonly State[], to: State): void {
  const bad = from.filter((f) => !canTransition(f, to));
  if (bad.length > 0) throw new Error(`transaction state machine: no transition ${bad.join("|")} → ${to}`);
}

/** States a step was started in but not finished: the sweeper's work. */
export const UNFINISHED: readonly State[] = ["PENDING", "CAPTURING", "CAPTURED", "VOIDING"];

/** States a transaction is born in: PENDING awaiting its hold, or DECLINED on the spot (the driver may not buy). */
export const INITIAL: readonly State[] = ["PENDING", "DECLINED"];

/** States the sweeper claims: the unfinished ones, and AUTHORIZED (its hold may expire). */
export const SWEPT: readonly State[] = [...UNFINISHED, "AUTHORIZED"];

/** A transaction born in `s` is a bug unless `s` is an initial state. */
export function checkInitial(s: State): void {
  if (!INITIAL.includes(s)) throw new Error(`transaction state machine: no transaction starts ${s}`);
}

export function isTerminal(s: State): boolean {
  return NEXT[s].length === 0;
}

export function publicStatus(s: State): TransactionStatus {
  switch (s) {
    case "PENDING":
      return TransactionStatus.PENDING;
    case "AUTHORIZED":
    case "CAPTURING":
    case "VOIDING":
      return TransactionStatus.AUTHORIZED;
    case "DECLINED":
      return TransactionStatus.DECLINED;
    case "CAPTURED":
      return TransactionStatus.CAPTURED;
    case "SETTLED":
      return TransactionStatus.SETTLED;
    case "VOIDED":
      return TransactionStatus.VOIDED;
    case "EXPIRED":
      return TransactionStatus.EXPIRED;
  }
}

/** Internal states behind a public status (for list filters). */
export function statesOf(status: TransactionStatus): State[] {
  return STATES.filter((s) => publicStatus(s) === status);
}

/** Stable keys of the calls each step makes, so a retry is recognised downstream. */
export const holdKey = (txnId: string) => `hold:${txnId}`;
export const captureKey = (txnId: string) => `capture:${txnId}`;
export const voidKey = (txnId: string) => `void:${txnId}`;
export const loanKey = (txnId: string) => `loan:${txnId}`;
