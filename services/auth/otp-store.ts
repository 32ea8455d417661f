// One-time passwords in Redis. Nothing here ever stores a phone or a code in the clear:
// keys carry an HMAC of the phone, values an HMAC of the code. Expiry is judged on the
// service clock (kept inside the record); Redis TTLs only clean up.
//
//   otp:{<pk>}              the current code of a phone: {id, mac, exp}; a new request replaces it
//   otp:{<pk>}:live:<id>    exists while code <id> may still be accepted; DEL → 1 wins the login
//   otp:{<pk>}:tries:<id>   attempts at code <id> (INCR, atomic across replicas)
//   otp:{<pk>}:last         when the last code was sent (resend cooldown)
//
// `{<pk>}` is the Redis Cluster hash tag: a phone's keys share one slot, so they live on
// one master (a master away takes a phone's login away whole, never half of its keys),
// and a script or transaction over them stays legal; different phones spread over all
// masters.
import type { Kv } from "../../platform/kv.js";
import {
  codeMac,
  diesAfterMismatch,
  generateCode,
  generateCodeId,
  judgeAttempt,
  OTP_RESEND_COOLDOWN_S,
  OTP_TTL_MS,
  phoneKey,
  type AttemptOutcome,
  type OtpRecord,
} from "./otp-code.js";

/** Redis keeps records a little past their logical expiry (clock skew between replicas). */
const CLEANUP_SLACK_MS = 60_000;
const LAST_SENT_TTL_MS = 10 * 60_000;

/** The Redis keys of one phone (by its key `pk`), all in the slot of `{pk}`. */
export const otpKeys = (pk: string) => ({
  record: `otp:{${pk}}`,
  live: (id: string) => `otp:{${pk}}:live:${id}`,
  tries: (id: string) => `otp:{${pk}}:tries:${id}`,
  last: `otp:{${pk}}:last`,
});

export type CheckResult = { ok: true; id: string } | { ok: false; outcome: AttemptOutcome | "absent" };

export class OtpStore {
  constructor(
    private readonly kv: Kv,
    private readonly hmacKey: Uint8Array,
    private readonly now: () => Date,
  ) {}

  phoneKey(phone: string): string {
    return phoneKey(this.hmacKey, phone);
  }

  /** Milliseconds before another code may be sent to this phone (0 = now). */
  async cooldownRemainingMs(pk: string): Promise<number> {
    const last = Number(await this.kv.get(otpKeys(pk).last));
    if (!Number.isFinite(last) || last <= 0) return 0;
    return Math.max(0, last + OTP_RESEND_COOLDOWN_S * 1000 - this.now().getTime());
  }

  /** Draws a new code for the phone, replacing any previous one. Returns the plaintext code. */
  async issue(pk: string): Promise<string> {
    const code = generateCode();
    const id = generateCodeId();
    const nowMs = this.now().getTime();
    const rec: OtpRecord = { id, mac: codeMac(this.hmacKey, pk, id, code), exp: nowMs + OTP_TTL_MS };
    const ttl = OTP_TTL_MS + CLEANUP_SLACK_MS;
    const keys = otpKeys(pk);
    const previous = await this.record(pk);
    await this.kv.set(keys.live(id), "1", ttl);
    await this.kv.set(keys.record, JSON.stringify(rec), ttl);
    if (previous) await this.kv.del(keys.live(previous.id)); // the old code dies now
    // The cooldown starts last: if Redis fails before it, the call fails unsent and the
    // phone may ask again at once, instead of waiting out a cooldown for a code never sent.
    await this.kv.set(keys.last, String(nowMs), LAST_SENT_TTL_MS);
    return code;
  }

  /**
   * One attempt at the phone's current code. Counts the try first (atomically), so at
   * most OTP_MAX_TRIES comparisons ever happen per code, however many callers race.
   * The HMAC is computed whether or not a code exists, so both paths cost the same.
   */
  async check(pk: string, code: string): Promise<CheckResult> {
    const rec = await this.record(pk);
    const mac = codeMac(this.hmacKey, pk, rec?.id ?? "none", code);
    const keys = otpKeys(pk);
    if (!rec || (await this.kv.get(keys.live(rec.id))) === null) return { ok: false, outcome: "absent" };
    const tryNumber = await this.kv.incr(keys.tries(rec.id), OTP_TTL_MS + CLEANUP_SLACK_MS);
    const outcome = judgeAttempt(rec, this.now().getTime(), tryNumber, mac);
    if (outcome === "match") return { ok: true, id: rec.id };
    // The fifth wrong try kills the code. Tries past the fifth just fail: they must not
    // kill a code that one of the first five (a match, racing with them) is consuming.
    if (outcome === "expired" || (outcome === "mismatch" && diesAfterMismatch(tryNumber))) await this.kill(pk, rec.id);
    return { ok: false, outcome };
  }

  /** Accepts code `id` once: of racing verifiers exactly one gets true. */
  async consume(pk: string, id: string): Promise<boolean> {
    const won = (await this.kv.del(otpKeys(pk).live(id))) === 1;
    // Once won, the login is decided: a record that cannot be dropped now (Redis failing)
    // belongs to a dead code and expires by itself, so it must not fail the login.
    if (won) await this.dropRecord(pk, id).catch(() => undefined);
    return won;
  }

  private async kill(pk: string, id: string): Promise<void> {
    await this.kv.del(otpKeys(pk).live(id));
    await this.dropRecord(pk, id);
  }

  /** Deletes the phone's record if it is still code `id` (a newer code is left alone). */
  private async dropRecord(pk: string, id: string): Promise<void> {
    const cur = await this.record(pk);
    if (cur?.id === id) await this.kv.del(otpKeys(pk).record);
  }

  private async record(pk: string): Promise<OtpRecord | null> {
    const raw = await this.kv.get(otpKeys(pk).record);
    if (!raw) return null;
    try {
      const r = JSON.parse(raw) as OtpRecord;
      return typeof r.id === "string" && typeof r.mac === "string" && typeof r.exp === "number" ? r : null;
    } catch {
      return null;
    }
  }
}
