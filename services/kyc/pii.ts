// Personal data at rest: AES-256-GCM ciphertext plus an HMAC-SHA256 "blind index" that
// lets us enforce uniqueness and look rows up without storing the plaintext. Both keys
// are derived (HKDF) from PII_ENCRYPTION_KEY with distinct labels, so the index key
// never doubles as the encryption key. Pure apart from the random IV.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from "node:crypto";

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class PiiCipher {
  private readonly encKey: Buffer;
  private readonly indexKey: Buffer;

  constructor(masterKey: Uint8Array) {
    if (masterKey.length < 32) throw new Error("PII key must be at least 32 bytes");
    this.encKey = Buffer.from(hkdfSync("sha256", masterKey, Buffer.alloc(0), "fuel.kyc.pii.aes-256-gcm.v1", 32));
    this.indexKey = Buffer.from(hkdfSync("sha256", masterKey, Buffer.alloc(0), "fuel.kyc.pii.blind-index.v1", 32));
  }

  /** Deterministic index of a normalised value, scoped by `purpose` (e.g. "national_id"). */
  blindIndex(purpose: string, value: string): string {
    return createHmac("sha256", this.indexKey).update(purpose).update("\0").update(value).digest("hex");
  }

  /** version(1) ‖ iv(12) ‖ tag(16) ‖ ciphertext; `aad` binds it to its row and column. */
  encrypt(plaintext: string, aad: string): Buffer {
    const iv = randomBytes(IV_BYTES);
    const c = createCipheriv("aes-256-gcm", this.encKey, iv);
    c.setAAD(Buffer.from(aad));
    const ct = Buffer.concat([c.update(plaintext, "utf8"), c.final()]);
    return Buffer.concat([Buffer.from([VERSION]), iv, c.getAuthTag(), ct]);
  }

  decrypt(blob: Uint8Array, aad: string): string {
    const b = Buffer.from(blob);
    if (b[0] !== VERSION || b.length < 1 + IV_BYTES + TAG_BYTES) throw new Error("unknown PII ciphertext format");
    const iv = b.subarray(1, 1 + IV_BYTES);
    const tag = b.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
    const d = createDecipheriv("aes-256-gcm", this.encKey, iv);
    d.setAAD(Buffer.from(aad));
    d.setAuthTag(tag);
    return Buffer.concat([d.update(b.subarray(1 + IV_BYTES + TAG_BYTES)), d.final()]).toString("utf8");
  }
}

/** National IDs compare without case, spaces or dashes: "ab-12 345" ≡ "AB12345". */
export function normaliseNationalId(value: string): string {
  return value.replace(/[\s-]/g, "").toUpperCase();
}
