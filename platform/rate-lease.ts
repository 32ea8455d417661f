// Leased rate-limit points. Every public call spends one point of its caller's budget in
// Redis; a process takes a slice of the budget in one round trip — the points are counted
// in Redis when taken, so every replica draws on one budget — and spends the slice locally
// until the window ends. Calls of one caller that arrive while a lease request is in
// flight wait for that request instead of sending their own (platform/ratelimit.ts), and
// the next request asks for as many points as calls are waiting (up to LEASE_ASK_MAX), so
// concurrency costs round trips, not points. What leasing costs: points a replica holds
// when the window ends are lost to the caller. A request sized for waiting calls is spent
// on them at once, so what a replica holds is at most a partial slice (1 % of the budget),
// plus the points of calls that gave up waiting (their deadline passed) before the answer.
// This file is the bookkeeping (which points are held, who waits for which request); the
// request itself is passed in, so nothing here does I/O.
import { Code, ConnectError } from "@connectrpc/connect";

/** Points taken per Redis round trip for a budget of `points`: 1 % of it, 1–50. */
export function leaseSize(points: number): number {
  return Math.max(1, Math.min(50, Math.floor(points / 100)));
}

/**
 * The most points one lease request asks for, however many calls wait: as many as the
 * largest slice, so a request never holds more than a busy caller of the largest budget
 * would anyway, and 50 calls arriving together cost one round trip.
 */
export const LEASE_ASK_MAX = 50;

/**
 * Points to ask for when `waiting` calls (the asking one among them) wait on an empty
 * slot: a slice, or one point per waiting call when more wait — bounded by
 * LEASE_ASK_MAX and by the budget itself.
 */
export function leaseAsk(points: number, waiting: number): number {
  const slice = leaseSize(points);
  return Math.min(points, Math.max(slice, Math.min(LEASE_ASK_MAX, waiting)));
}

/** Keys kept at most: callers beyond it wait for their budget in Redis again. */
export const LEASES_MAX = 10_000;

/**
 * Calls of one caller that may wait at once on one replica for a lease request; more are
 * refused. A thousand calls of one caller arriving within one Redis round trip is a flood,
 * not a client.
 */
export const WAITERS_MAX = 1_000;

interface Lease {
  left: number;
  untilMs: number;
}

/** The slices this process holds, by budget and caller. */
export class LeaseBook {
  private readonly book = new Map<string, Lease>();
  constructor(private readonly now: () => number = Date.now) {}

  /** Spends one leased point of `slot` if one is left in a live window. */
  take(slot: string): boolean {
    const lease = this.book.get(slot);
    if (!lease) return false;
    if (lease.left <= 0 || this.now() >= lease.untilMs) {
      this.book.delete(slot);
      return false;
    }
    lease.left--;
    return true;
  }

  /**
   * Adds `points` of `slot` to spend until `untilMs` (when the window they were counted in
   * ends). Points still held in a live window are kept and added to, and the sum ends at
   * the earlier of the two ends: the points of one window are never spent in the next.
   */
  grant(slot: string, points: number, untilMs: number): void {
    if (points <= 0 || this.now() >= untilMs) return;
    const held = this.book.get(slot);
    if (held && held.left > 0 && this.now() < held.untilMs) {
      held.left += points;
      held.untilMs = Math.min(held.untilMs, untilMs);
      return;
    }
    if (!held && this.book.size >= LEASES_MAX) this.evict();
    this.book.set(slot, { left: points, untilMs });
  }

  /** Points of `slot` left to spend now (0 when none or its window ended). */
  left(slot: string): number {
    const lease = this.book.get(slot);
    return lease && this.now() < lease.untilMs ? lease.left : 0;
  }

  get size(): number {
    return this.book.size;
  }

  /** Drops ended windows; if none ended, the oldest entry (Maps iterate in insertion order). */
  private evict(): void {
    const now = this.now();
    for (const [slot, lease] of this.book) if (now >= lease.untilMs) this.book.delete(slot);
    if (this.book.size >= LEASES_MAX) this.book.delete(this.book.keys().next().value!);
  }
}

/** What a lease request got: `points` to spend until `untilMs` (this process's clock). */
export interface Grant {
  points: number;
  untilMs: number;
}

/** How long a call may wait for a lease request: its deadline, and its cancellation. */
export interface LeaseWait {
  /** Epoch ms (Date.now) after which the call has no use for a point. */
  deadlineAt?: number;
  signal?: AbortSignal;
}

/**
 * The calls of each slot waiting for points, and the one lease request in flight for each.
 * A call that finds the book empty waits for the slot's request, starting one if none is
 * in flight; every call waiting on a request shares its outcome — its points, its
 * refusal, its failure — and a failed request leaves nothing behind, so the next call
 * starts afresh.
 */
export class LeaseQueue {
  private readonly waiting = new Map<string, number>();
  private readonly flights = new Map<string, Promise<void>>();
  constructor(private readonly book: LeaseBook) {}

  /**
   * Whether `slot` can be queued: one already waiting can, a new one while fewer than
   * LEASES_MAX slots wait or have a request in flight. Otherwise the caller spends in Redis
   * call by call.
   */
  has(slot: string): boolean {
    return this.waiting.has(slot) || (this.waiting.size < LEASES_MAX && this.flights.size < LEASES_MAX);
  }

  /** Calls of `slot` waiting now. */
  waitingOn(slot: string): number {
    return this.waiting.get(slot) ?? 0;
  }

  /**
   * Spends one point of `slot`, waiting for lease requests as needed. `request(waiting)`
   * asks for the points, knowing how many calls wait; it throws to refuse or fail, and
   * every call waiting on it throws the same. Throws what `crowded()` returns when
   * WAITERS_MAX calls of the slot already wait, and DEADLINE_EXCEEDED or CANCELED when
   * the call's wait ends first.
   */
  async spend(slot: string, request: (waiting: number) => Promise<Grant>, wait: LeaseWait, crowded: () => Error): Promise<void> {
    if (this.book.take(slot)) return;
    const waiting = this.waitingOn(slot);
    if (waiting >= WAITERS_MAX) throw crowded();
    this.waiting.set(slot, waiting + 1);
    try {
      // Each pass waits for one request, and each request either grants a point (which
      // some waiting call spends), or throws: the budget bounds the passes, and the call's
      // deadline bounds the wait.
      for (;;) {
        await waitFor(this.flights.get(slot) ?? this.fly(slot, request), wait);
        if (this.book.take(slot)) return;
      }
    } finally {
      const left = this.waitingOn(slot) - 1;
      if (left > 0) this.waiting.set(slot, left);
      else this.waiting.delete(slot);
    }
  }

  /**
   * Starts the slot's lease request. Its points go to the book, and it leaves the table of
   * flights, before any waiting call wakes.
   */
  private fly(slot: string, request: (waiting: number) => Promise<Grant>): Promise<void> {
    const flight: Promise<void> = Promise.resolve()
      .then(() => request(this.waitingOn(slot)))
      .then((grant) => this.book.grant(slot, grant.points, grant.untilMs))
      .finally(() => {
        if (this.flights.get(slot) === flight) this.flights.delete(slot);
      });
    this.flights.set(slot, flight);
    return flight;
  }
}

/** `flight`, or the end of the call's wait if that comes first. */
function waitFor(flight: Promise<void>, wait: LeaseWait): Promise<void> {
  const { deadlineAt, signal } = wait;
  if (deadlineAt === undefined && !signal) return flight;
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(ConnectError.from(signal!.reason, Code.Canceled));
    const timer = deadlineAt === undefined
      ? undefined
      : setTimeout(() => reject(new ConnectError("deadline exceeded", Code.DeadlineExceeded)), Math.max(0, deadlineAt - Date.now()));
    signal?.addEventListener("abort", onAbort, { once: true });
    flight.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    });
    if (signal?.aborted) onAbort();
  });
}
