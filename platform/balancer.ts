// Which replica of a service a mesh call goes to: the pure rules (no sockets, no clock of
// its own), so they can be tested exactly. Calls go round robin over the addresses the
// service's name resolves to. An address whose connection failed is ejected for a while,
// doubling with each failure in a row up to a bound, so calls go to the others; when
// every address is ejected a call still tries the one that comes back soonest, because
// a real attempt's error says more than a refusal made up here.

/** First ejection after a failed connection; each further failure in a row doubles it. */
export const EJECT_BASE_MS = 250;
/** The longest an address is ejected: a replica that returns is used again within this. */
export const EJECT_MAX_MS = 10_000;
/** Addresses kept per name: a DNS answer longer than this is cut (the rest are not called). */
export const MAX_ADDRESSES = 64;

export interface Endpoint {
  readonly address: string;
  /** Connection failures in a row (reset by a connection that succeeds). */
  failures: number;
  /** Not picked before this time (ms, on the caller's clock) while others are usable. */
  ejectedUntilMs: number;
}

/** How long an address is ejected after its `failures`-th failure in a row. */
export function ejectionMs(failures: number): number {
  if (failures <= 0) return 0;
  // 2^6 × 250 ms already exceeds the bound; the cap keeps the shift small.
  return Math.min(EJECT_BASE_MS * 2 ** Math.min(failures - 1, 16), EJECT_MAX_MS);
}

export class Picker<E extends Endpoint> {
  private list: E[] = [];
  private next: number;

  /** `start` spreads callers: processes that start together do not all call the first address first. */
  constructor(start = 0) {
    this.next = start;
  }

  get endpoints(): readonly E[] {
    return this.list;
  }

  /**
   * The endpoint for the next call: round robin over those not ejected at `nowMs`,
   * skipping `exclude` (addresses this call already tried). If all the rest are ejected,
   * the one whose ejection ends first; undefined when nothing is left to try.
   */
  pick(nowMs: number, exclude?: readonly E[]): E | undefined {
    const n = this.list.length;
    let fallback: E | undefined;
    for (let i = 0; i < n; i++) {
      const idx = (this.next + i) % n;
      const e = this.list[idx]!;
      if (exclude && exclude.includes(e)) continue;
      if (e.ejectedUntilMs <= nowMs) {
        this.next = (idx + 1) % n;
        return e;
      }
      if (!fallback || e.ejectedUntilMs < fallback.ejectedUntilMs) fallback = e;
    }
    return fallback;
  }

  /** A connection to `e` failed: eject it, longer for each failure in a row. */
  failed(e: E, nowMs: number): void {
    e.failures++;
    e.ejectedUntilMs = nowMs + ejectionMs(e.failures);
  }

  /** A connection to `e` succeeded: it is usable at once and its backoff starts over. */
  connected(e: E): void {
    e.failures = 0;
    e.ejectedUntilMs = 0;
  }

  /**
   * The addresses the name resolves to now: endpoints of addresses still there are kept
   * (with their connections and ejections), new ones made with `make`; returns the
   * endpoints of addresses that left, for the caller to close. An empty answer changes
   * nothing: a name that briefly resolves to nothing must not strand every call.
   */
  update(addresses: readonly string[], make: (address: string) => E): E[] {
    if (addresses.length === 0) return [];
    const wanted = [...new Set(addresses)].slice(0, MAX_ADDRESSES);
    const byAddress = new Map(this.list.map((e) => [e.address, e]));
    const next = wanted.map((a) => byAddress.get(a) ?? make(a));
    const kept = new Set(next);
    const gone = this.list.filter((e) => !kept.has(e));
    this.list = next;
    this.next %= next.length;
    return gone;
  }
}
