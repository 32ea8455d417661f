// The "running" claim of an idempotency key is a lease: it lives IDEMPOTENCY_LEASE_MS
// unless the process running the call renews it. A live call keeps its key (a retry
// meanwhile is ABORTED); a call whose process died (SIGKILL, OOM, a lost host) frees its
// key within one lease, so the client's retry is not refused for longer than that.
//
// Why a lease and not a TTL as long as the longest call: the TTL must outlive every live
// call (30 s and more), and a marker that long outlives a crashed owner by as much — a
// terminal could not finish a sale for half a minute after any restart. The lease is
// short because renewing is cheap: one timer per process renews every claim held longer
// than a renewal period (a sale takes milliseconds, so most calls never renew at all).
import { randomBytes } from "node:crypto";
import type { Kv } from "../kv.js";

/** How long a running call's claim lives without renewal. */
export const IDEMPOTENCY_LEASE_MS = 2_000;
/**
 * How often claims are renewed: a quarter of the lease, so a renewal may be up to 1.5 s
 * late (a GC pause, a slow Redis reply) before a live call's claim lapses.
 */
export const LEASE_RENEW_EVERY_MS = IDEMPOTENCY_LEASE_MS / 4;
/** Claims one process holds at once; past this, a claim is not renewed (it still lives one lease). */
const LEASES_MAX = 100_000;

interface Held {
  slot: string;
  since: number;
}

/** The claims this process holds on one store, renewed together by one timer. */
export class LeaseKeeper {
  private readonly held = new Map<string, Held>();
  private timer: NodeJS.Timeout | null = null;
  private seq = 0;
  private readonly prefix = randomBytes(6).toString("base64url");

  /**
   * @param maxRunMs the longest a call keeps its claim: a call still running after it is
   * hung, stops being renewed, and its key frees one lease later.
   */
  constructor(private readonly kv: Kv, private readonly maxRunMs: number) {}

  /** A token unique to one claim (this process, this call): the claim's owner. */
  owner(): string {
    this.seq = (this.seq + 1) % Number.MAX_SAFE_INTEGER;
    return `${this.prefix}.${this.seq}`;
  }

  /** Starts renewing `value` at `slot` (just claimed with a TTL of one lease). */
  hold(slot: string, value: string): void {
    if (this.held.size >= LEASES_MAX) return;
    this.held.set(value, { slot, since: Date.now() });
    if (!this.timer) {
      this.timer = setInterval(() => this.renew(), LEASE_RENEW_EVERY_MS);
      this.timer.unref();
    }
  }

  /** Stops renewing (before the call writes its result or releases the key). */
  release(value: string): void {
    this.held.delete(value);
    if (this.held.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private renew(): void {
    const now = Date.now();
    for (const [value, h] of this.held) {
      // A claim younger than a renewal period still has most of its first lease.
      if (now - h.since < LEASE_RENEW_EVERY_MS) continue;
      if (now - h.since > this.maxRunMs) {
        this.release(value);
        continue;
      }
      // A renewal that fails is not retried here: the next tick tries again, and if
      // Redis stays away the claim lapses, which only lets a retry through to the
      // handler (whose Postgres guard stands for anything that moves money).
      this.kv.renewIf(h.slot, value, IDEMPOTENCY_LEASE_MS).catch(() => undefined);
    }
  }
}
