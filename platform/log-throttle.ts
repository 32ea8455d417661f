// A failure that hits every call (a database or Redis away, a peer down) would otherwise
// log once per call: hundreds of lines a second that bury the one that says what broke.
// A throttle lets one line per key through each period and counts the ones it held back,
// so the next line that passes says how many there were.

/** Keys remembered at most; past it the oldest is forgotten (its next line passes). */
const KEYS_MAX = 1_000;

export class LogThrottle {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly periodMs: number, private readonly now: () => number = Date.now) {}

  /**
   * Whether a line for `key` may be written now: null when it is held back, else how many
   * lines for `key` were held back since the last one written.
   */
  pass(key: string): { suppressed: number } | null {
    const at = this.now();
    const seen = this.last.get(key);
    if (seen && at - seen.at < this.periodMs) {
      seen.suppressed++;
      return null;
    }
    if (!seen && this.last.size >= KEYS_MAX) this.last.delete(this.last.keys().next().value!);
    this.last.set(key, { at, suppressed: 0 });
    return { suppressed: seen?.suppressed ?? 0 };
  }
}
