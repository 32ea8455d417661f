// The posting builder: every movement of money on a credit line as a balanced set of
// postings (ledger.proto). Pure: no I/O. The counters a movement changes are derived
// from its postings (`counterDeltas`), so the cached counters and the ledger cannot be
// told different stories.
//
// Accounts of a line: LIMIT (= −limit) + AVAILABLE + HELD + USED = 0.
//   limit change Δ : LIMIT −Δ, AVAILABLE +Δ
//   hold a         : AVAILABLE −a, HELD +a            (driver line and its parent)
//   capture c ≤ a  : HELD −a, USED +c, AVAILABLE +(a−c)
//   void / expiry  : HELD −a, AVAILABLE +a
//   repayment p    : USED −p, AVAILABLE +p
import { LedgerAccount } from "../../gen/fuel/credit/v1/ledger_pb.js";

export interface PostingDraft {
  lineId: string;
  account: LedgerAccount;
  amount: bigint;
}

export interface CounterDelta {
  limit: bigint;
  held: bigint;
  used: bigint;
}

/** An invariant broke: a bug, never bad input. Refuses to write anything. */
export class LedgerInvariantError extends Error {
  constructor(message: string) {
    super(`ledger invariant violated: ${message}`);
    this.name = "LedgerInvariantError";
  }
}

function positive(name: string, v: bigint): void {
  if (v <= 0n) throw new LedgerInvariantError(`${name} must be > 0, got ${v}`);
}

function drafts(lineIds: readonly string[], legs: [LedgerAccount, bigint][]): PostingDraft[] {
  const out: PostingDraft[] = [];
  for (const lineId of lineIds) {
    for (const [account, amount] of legs) if (amount !== 0n) out.push({ lineId, account, amount });
  }
  return assertBalanced(out);
}

export function limitChangePostings(lineIds: readonly string[], delta: bigint): PostingDraft[] {
  return drafts(lineIds, [[LedgerAccount.LIMIT, -delta], [LedgerAccount.AVAILABLE, delta]]);
}

export function holdPostings(lineIds: readonly string[], amount: bigint): PostingDraft[] {
  positive("hold amount", amount);
  return drafts(lineIds, [[LedgerAccount.AVAILABLE, -amount], [LedgerAccount.HELD, amount]]);
}

export function capturePostings(lineIds: readonly string[], held: bigint, captured: bigint): PostingDraft[] {
  positive("held amount", held);
  if (captured < 0n || captured > held) throw new LedgerInvariantError(`capture ${captured} outside 0..${held}`);
  return drafts(lineIds, [[LedgerAccount.HELD, -held], [LedgerAccount.USED, captured], [LedgerAccount.AVAILABLE, held - captured]]);
}

export function releasePostings(lineIds: readonly string[], held: bigint): PostingDraft[] {
  positive("released amount", held);
  return drafts(lineIds, [[LedgerAccount.HELD, -held], [LedgerAccount.AVAILABLE, held]]);
}

export function repaymentPostings(lineIds: readonly string[], principal: bigint): PostingDraft[] {
  positive("repaid principal", principal);
  return drafts(lineIds, [[LedgerAccount.USED, -principal], [LedgerAccount.AVAILABLE, principal]]);
}

/**
 * The zero-sum rule, asserted before anything is written: the postings of an entry sum to
 * zero, and so do each line's (every movement keeps limit = available + held + used on
 * every line it touches). Returns its input for chaining.
 */
export function assertBalanced(postings: readonly PostingDraft[]): PostingDraft[] {
  if (postings.length === 0) throw new LedgerInvariantError("an entry needs at least one posting");
  let total = 0n;
  const perLine = new Map<string, bigint>();
  for (const p of postings) {
    if (p.account < LedgerAccount.LIMIT || p.account > LedgerAccount.USED) throw new LedgerInvariantError(`unknown account ${p.account}`);
    total += p.amount;
    perLine.set(p.lineId, (perLine.get(p.lineId) ?? 0n) + p.amount);
  }
  if (total !== 0n) throw new LedgerInvariantError(`postings sum to ${total}, not 0`);
  for (const [line, sum] of perLine) if (sum !== 0n) throw new LedgerInvariantError(`postings of line ${line} sum to ${sum}, not 0`);
  return postings as PostingDraft[];
}

/** What the postings do to each line's cached counters (limit = −LIMIT). */
export function counterDeltas(postings: readonly PostingDraft[]): Map<string, CounterDelta> {
  const out = new Map<string, CounterDelta>();
  for (const p of postings) {
    const d = out.get(p.lineId) ?? { limit: 0n, held: 0n, used: 0n };
    if (p.account === LedgerAccount.LIMIT) d.limit -= p.amount;
    else if (p.account === LedgerAccount.HELD) d.held += p.amount;
    else if (p.account === LedgerAccount.USED) d.used += p.amount;
    out.set(p.lineId, d);
  }
  return out;
}
