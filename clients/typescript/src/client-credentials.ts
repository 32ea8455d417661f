// The bank system's access token: exchanged for its client id and secret
// (AuthService.ExchangeClientCredentials), kept, and exchanged again shortly before it
// expires — by one exchange however many calls are waiting for it.
import type { Principal } from "./gen/fuel/auth/v1/auth_pb.js";

export interface IssuedToken {
  accessToken: string;
  /** When the server says the token stops being accepted (ms since the epoch). */
  expiresAtMs: number;
  principal: Principal | undefined;
}

export interface TokenOptions {
  /** Renew this long before expiry at most. Default 60,000 ms. */
  refreshMarginMs?: number;
  /** Wall clock in ms since the epoch; the one `expires_at` is compared with. */
  now?: () => number;
}

/** Renew when this share of the token's life is left, if that comes before the margin. */
const REFRESH_SHARE_OF_LIFE = 0.1;
/**
 * A token is used for at least this long after it arrived, whatever its expiry says: a
 * client whose clock runs ahead of the server's would otherwise exchange on every call.
 * The server stays the judge; a token it refuses is replaced once (auth.ts).
 */
const MIN_TOKEN_USE_MS = 1_000;

interface Held extends IssuedToken {
  refreshAtMs: number;
}

export class ClientCredentials {
  private held: Held | undefined;
  private exchanging: Promise<Held> | undefined;
  private readonly refreshMarginMs: number;
  private readonly now: () => number;

  constructor(private readonly exchange: () => Promise<IssuedToken>, opts: TokenOptions = {}) {
    this.refreshMarginMs = opts.refreshMarginMs ?? 60_000;
    if (!(this.refreshMarginMs >= 0)) throw new RangeError("refreshMarginMs must be ≥ 0");
    this.now = opts.now ?? Date.now;
  }

  /** A token to send now: the one held while it is fresh, else a new one. */
  async token(): Promise<string> {
    const held = this.held;
    if (held && this.now() < held.refreshAtMs) return held.accessToken;
    try {
      return (await this.renew()).accessToken;
    } catch (err) {
      // An exchange that failed while the old token is still valid costs no call.
      if (held && this.now() < held.expiresAtMs) return held.accessToken;
      throw err;
    }
  }

  /** The server refused `token`: forget it (unless already replaced) and get another. */
  async replace(token: string): Promise<string> {
    if (this.held?.accessToken === token) this.held = undefined;
    return await this.token();
  }

  /** Who the credential speaks for, as the last exchange said. */
  async principal(): Promise<Principal | undefined> {
    await this.token();
    return this.held?.principal;
  }

  private renew(): Promise<Held> {
    // Single flight: every caller that finds the token stale waits for the same exchange.
    this.exchanging ??= this.exchange()
      .then((t) => {
        const received = this.now();
        const lifeMs = t.expiresAtMs - received;
        const marginMs = Math.min(this.refreshMarginMs, lifeMs * REFRESH_SHARE_OF_LIFE);
        const held: Held = { ...t, refreshAtMs: Math.max(received + MIN_TOKEN_USE_MS, t.expiresAtMs - marginMs) };
        this.held = held;
        return held;
      })
      .finally(() => {
        this.exchanging = undefined;
      });
    return this.exchanging;
  }
}
