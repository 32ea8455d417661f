// A subscriber's pending updates: a bounded queue that coalesces by key, latest wins, so
// a producer never waits for a consumer. `offer` is O(1) and never blocks; a consumer
// that falls behind is marked overflowed (too many distinct pending keys, or the oldest
// pending update older than `maxLagMs`) and the producer stops feeding it.
export type WaitResult = "ready" | "overflow" | "closed" | "timeout" | "aborted";

export interface QueueOptions {
  /** Most distinct keys pending at once. */
  capacity: number;
  /** Longest an update may wait for the consumer. */
  maxLagMs: number;
  now?: () => number;
}

export class CoalescingQueue<V> {
  private pending = new Map<string, V>();
  private oldestAt = 0;
  private waiter: (() => void) | null = null;
  private state: "open" | "overflow" | "closed" = "open";
  private readonly now: () => number;

  constructor(private readonly opts: QueueOptions) {
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.pending.size;
  }

  get overflowed(): boolean {
    return this.state === "overflow";
  }

  get closed(): boolean {
    return this.state !== "open";
  }

  /** Adds or replaces the value of `key`; false once the consumer has fallen behind. */
  offer(key: string, value: V): boolean {
    if (this.state !== "open") return false;
    const t = this.now();
    if (this.pending.size > 0 && t - this.oldestAt > this.opts.maxLagMs) return this.overflow();
    if (this.pending.has(key)) {
      this.pending.set(key, value);
    } else {
      if (this.pending.size >= this.opts.capacity) return this.overflow();
      if (this.pending.size === 0) this.oldestAt = t;
      this.pending.set(key, value);
    }
    this.wake();
    return true;
  }

  /** Takes everything pending, in first-offered order of the keys. */
  drain(): V[] {
    const out = [...this.pending.values()];
    this.pending.clear();
    return out;
  }

  close(): void {
    if (this.state === "open") this.state = "closed";
    this.wake();
  }

  /** Waits until something is pending, the queue ends, `timeoutMs` passes or `signal` aborts. */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<WaitResult> {
    if (this.state === "overflow") return Promise.resolve("overflow");
    if (this.state === "closed") return Promise.resolve("closed");
    if (this.pending.size > 0) return Promise.resolve("ready");
    if (signal?.aborted) return Promise.resolve("aborted");
    return new Promise((resolve) => {
      const done = (r: WaitResult) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.waiter = null;
        resolve(r);
      };
      const onAbort = () => done("aborted");
      const timer = setTimeout(() => done("timeout"), timeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiter = () => done(this.state === "overflow" ? "overflow" : this.state === "closed" ? "closed" : "ready");
    });
  }

  private overflow(): false {
    this.state = "overflow";
    this.pending.clear();
    this.wake();
    return false;
  }

  private wake(): void {
    const w = this.waiter;
    if (w) w();
  }
}
