// Whether a purchase may be authorised on a driver's line (and its agency parent line),
// for how much, or why not; and what the driver can spend. Pure: the caller supplies the
// lines' state as locked in its transaction. Decline reasons are machine-readable.
import { DeclineReason, type SpendingControls } from "../../gen/fuel/credit/v1/credit_line_pb.js";
import { LimitingFactor } from "../../gen/fuel/credit/v1/credit_pb.js";
import { staticDecline, type Purchase } from "./controls-rule.js";

export type LineStatusName = "ACTIVE" | "FROZEN" | "CLOSED";

export interface LineState {
  status: LineStatusName;
  currency: string;
  /** limit − held − used; negative when over limit. */
  available: bigint;
  controls: SpendingControls | null;
  /** Today's pending holds at their amount plus captures at their captured amount. */
  dailyAmount: bigint;
  /** Today's approved authorisations. */
  dailyCount: number;
}

export interface HoldAsk {
  amount: bigint;
  currency: string;
  allowPartial: boolean;
  /** Smallest acceptable approval when partial (≥ 1). */
  minAmount: bigint;
  purchase: Purchase;
}

export interface HoldDecision {
  approved: boolean;
  amount: bigint;
  reason: DeclineReason;
}

export interface Spendable {
  amount: bigint;
  factor: LimitingFactor;
  perTransactionMax: bigint | null;
  dailyRemaining: bigint | null;
}

const min = (a: bigint | null, b: bigint | null): bigint | null => (a === null ? b : b === null ? a : a < b ? a : b);

function perTransactionMax(lines: LineState[]): bigint | null {
  let out: bigint | null = null;
  for (const l of lines) out = min(out, l.controls?.perTransactionMax?.amountMinor ?? null);
  return out;
}

/** What is left of the daily limits today; 0 when the daily count is reached. */
function dailyRemaining(lines: LineState[]): { amount: bigint | null; countReached: boolean } {
  let amount: bigint | null = null;
  let countReached = false;
  for (const l of lines) {
    const c = l.controls;
    if (!c) continue;
    if (c.dailyMax) amount = min(amount, c.dailyMax.amountMinor - l.dailyAmount);
    if (c.dailyTransactionCountMax > 0 && l.dailyCount >= c.dailyTransactionCountMax) countReached = true;
  }
  return { amount, countReached };
}

/**
 * What the driver can spend in one purchase now: the smallest applicable constraint of the
 * three levels (the driver's line, the agency's parent line, the bank's program) and the
 * lines' controls. A program has no controls of its own, only its cap and its status.
 */
export function spendable(line: LineState, parent: LineState | null, program: LineState | null = null): Spendable {
  const lines = parent ? [line, parent] : [line];
  const ptm = perTransactionMax(lines);
  const daily = dailyRemaining(lines);
  const dailyLeft = daily.countReached ? 0n : daily.amount;
  if (line.status !== "ACTIVE" || (parent && parent.status !== "ACTIVE")) {
    return { amount: 0n, factor: LimitingFactor.LINE_STATUS, perTransactionMax: ptm, dailyRemaining: dailyLeft };
  }
  if (program && program.status !== "ACTIVE") return { amount: 0n, factor: LimitingFactor.PROGRAM, perTransactionMax: ptm, dailyRemaining: dailyLeft };
  let amount = line.available;
  let factor = LimitingFactor.LINE;
  const consider = (v: bigint | null, f: LimitingFactor) => {
    if (v !== null && v < amount) {
      amount = v;
      factor = f;
    }
  };
  if (parent) consider(parent.available, LimitingFactor.PARENT_LINE);
  if (program) consider(program.available, LimitingFactor.PROGRAM);
  consider(ptm, LimitingFactor.PER_TRANSACTION_MAX);
  consider(dailyLeft, LimitingFactor.DAILY_MAX);
  return { amount: amount < 0n ? 0n : amount, factor, perTransactionMax: ptm, dailyRemaining: dailyLeft === null ? null : dailyLeft < 0n ? 0n : dailyLeft };
}

const decline = (reason: DeclineReason): HoldDecision => ({ approved: false, amount: 0n, reason });

/**
 * The hold decision: full approval, partial approval (if allowed) to what every level
 * allows, or a decline naming the level that refused.
 */
export function decideHold(ask: HoldAsk, line: LineState, parent: LineState | null, program: LineState | null = null): HoldDecision {
  if (line.status === "FROZEN") return decline(DeclineReason.CREDIT_LINE_FROZEN);
  if (line.status === "CLOSED") return decline(DeclineReason.CREDIT_LINE_CLOSED);
  if (parent && parent.status !== "ACTIVE") return decline(DeclineReason.PARENT_LINE_FROZEN);
  if (program && program.status !== "ACTIVE") return decline(DeclineReason.PROGRAM_INACTIVE);
  if (ask.currency !== line.currency) return decline(DeclineReason.CURRENCY_MISMATCH);
  const lines = parent ? [line, parent] : [line];
  for (const l of lines) {
    const r = staticDecline(l.controls, ask.purchase);
    if (r !== null) return decline(r);
  }

  let cap = ask.amount;
  // Each limit in turn: a request above it is declined, or capped with partial approval.
  // `binding` remembers which limit capped it, to name it if nothing is left.
  let binding = DeclineReason.UNSPECIFIED;
  const limit = (max: bigint | null, reason: DeclineReason): boolean => {
    if (max === null || cap <= max) return true;
    if (!ask.allowPartial) return false;
    cap = max;
    binding = reason;
    return true;
  };
  if (!limit(perTransactionMax(lines), DeclineReason.PER_TRANSACTION_LIMIT_EXCEEDED)) return decline(DeclineReason.PER_TRANSACTION_LIMIT_EXCEEDED);
  const daily = dailyRemaining(lines);
  if (daily.countReached) return decline(DeclineReason.DAILY_COUNT_EXCEEDED);
  if (!limit(daily.amount, DeclineReason.DAILY_LIMIT_EXCEEDED)) return decline(DeclineReason.DAILY_LIMIT_EXCEEDED);
  if (!limit(line.available, DeclineReason.INSUFFICIENT_CREDIT)) return decline(DeclineReason.INSUFFICIENT_CREDIT);
  if (parent && !limit(parent.available, DeclineReason.PARENT_INSUFFICIENT_CREDIT)) return decline(DeclineReason.PARENT_INSUFFICIENT_CREDIT);
  if (program && !limit(program.available, DeclineReason.PROGRAM_CAP_EXCEEDED)) return decline(DeclineReason.PROGRAM_CAP_EXCEEDED);

  if (cap <= 0n) return decline(binding === DeclineReason.UNSPECIFIED ? DeclineReason.INSUFFICIENT_CREDIT : binding);
  if (ask.allowPartial && cap < ask.minAmount) return decline(DeclineReason.BELOW_MINIMUM_AMOUNT);
  return { approved: true, amount: cap, reason: DeclineReason.UNSPECIFIED };
}

/** The line states after `amount` is reserved on them (for the response's `spendable`). */
export function afterHold(line: LineState, parent: LineState | null, program: LineState | null, amount: bigint): [LineState, LineState | null, LineState | null] {
  const bump = (l: LineState): LineState => ({ ...l, available: l.available - amount, dailyAmount: l.dailyAmount + amount, dailyCount: l.dailyCount + 1 });
  return [bump(line), parent ? bump(parent) : null, program ? bump(program) : null];
}
