// The QR payload: compact, signed, single-use. Pure (no I/O) so it is unit-tested alone.
//
//   FQ1.<base64url(body)>.<base64url(HMAC-SHA256(key, "FQ1." + base64url(body)))>
//
// body (binary, big-endian): version(1) qr_code_id(16) driver_id(16) expire_unix_s(4)
// fuel_type(1) flags(1) [max_amount int64(8) currency(3)] [station_id(16)]
// About 120 ASCII characters: a small, easily scanned QR. The key is derived from the mesh
// secret (HKDF-SHA256, info "fuel.transaction.qr.v1"), so every replica verifies what any
// replica issued, and it is not the key that signs service tokens.
import { createHmac, hkdfSync, timingSafeEqual } from "node:crypto";

const PREFIX = "FQ1.";
const VERSION = 1;
const FLAG_MAX = 1;
const FLAG_STATION = 2;

export interface QrClaims {
  qrCodeId: string;
  driverId: string;
  /** Expiry, whole seconds since the epoch. */
  expireUnix: number;
  fuelType: number;
  maxAmount: { amount: bigint; currency: string } | null;
  stationId: string | null;
}

export type QrVerdict =
  | { ok: true; claims: QrClaims }
  | { ok: false; problem: "MALFORMED" | "SIGNATURE_INVALID" | "EXPIRED"; claims?: QrClaims };

export function deriveQrKey(meshSecret: Uint8Array): Buffer {
  return Buffer.from(hkdfSync("sha256", meshSecret, "fuel.transaction", "fuel.transaction.qr.v1", 32));
}

const uuidBytes = (id: string): Buffer => {
  const hex = id.replace(/-/g, "");
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new Error("not a uuid");
  return Buffer.from(hex, "hex");
};
const uuidOf = (b: Buffer): string => {
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

function sign(key: Buffer, signed: string): Buffer {
  return createHmac("sha256", key).update(signed).digest();
}

export function encodeQr(key: Buffer, c: QrClaims): string {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(1 + 16 + 16 + 4 + 1 + 1);
  head.writeUInt8(VERSION, 0);
  uuidBytes(c.qrCodeId).copy(head, 1);
  uuidBytes(c.driverId).copy(head, 17);
  head.writeUInt32BE(c.expireUnix, 33);
  head.writeUInt8(c.fuelType, 37);
  head.writeUInt8((c.maxAmount ? FLAG_MAX : 0) | (c.stationId ? FLAG_STATION : 0), 38);
  parts.push(head);
  if (c.maxAmount) {
    const m = Buffer.alloc(11);
    m.writeBigInt64BE(c.maxAmount.amount, 0);
    if (!/^[A-Z]{3}$/.test(c.maxAmount.currency)) throw new Error("bad currency");
    m.write(c.maxAmount.currency, 8, "ascii");
    parts.push(m);
  }
  if (c.stationId) parts.push(uuidBytes(c.stationId));
  const signed = PREFIX + Buffer.concat(parts).toString("base64url");
  return `${signed}.${sign(key, signed).toString("base64url")}`;
}

function decodeBody(body: Buffer): QrClaims | null {
  if (body.length < 39 || body.readUInt8(0) !== VERSION) return null;
  const flags = body.readUInt8(38);
  if (flags & ~(FLAG_MAX | FLAG_STATION)) return null;
  let at = 39;
  let maxAmount: QrClaims["maxAmount"] = null;
  if (flags & FLAG_MAX) {
    if (body.length < at + 11) return null;
    const currency = body.subarray(at + 8, at + 11).toString("ascii");
    if (!/^[A-Z]{3}$/.test(currency)) return null;
    maxAmount = { amount: body.readBigInt64BE(at), currency };
    at += 11;
  }
  let stationId: string | null = null;
  if (flags & FLAG_STATION) {
    if (body.length < at + 16) return null;
    stationId = uuidOf(body.subarray(at, at + 16));
    at += 16;
  }
  if (at !== body.length) return null;
  return {
    qrCodeId: uuidOf(body.subarray(1, 17)),
    driverId: uuidOf(body.subarray(17, 33)),
    expireUnix: body.readUInt32BE(33),
    fuelType: body.readUInt8(37),
    maxAmount,
    stationId,
  };
}

const B64URL = /^[A-Za-z0-9_-]+$/;

/** Checks structure, then the signature (constant time), then the expiry at `now`. */
export function verifyQr(key: Buffer, payload: string, now: Date): QrVerdict {
  if (payload.length > 1024 || !payload.startsWith(PREFIX)) return { ok: false, problem: "MALFORMED" };
  const rest = payload.slice(PREFIX.length).split(".");
  if (rest.length !== 2 || !B64URL.test(rest[0]!) || !B64URL.test(rest[1]!)) return { ok: false, problem: "MALFORMED" };
  const body = Buffer.from(rest[0]!, "base64url");
  const mac = Buffer.from(rest[1]!, "base64url");
  const expected = sign(key, PREFIX + rest[0]!);
  if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return { ok: false, problem: "SIGNATURE_INVALID" };
  // Canonical encoding only: the last base64 character of each part carries unused bits, so
  // several spellings decode to the same bytes. Only the one we wrote is ours — otherwise one
  // QR would have more than one payload string (logs, support lookups and audits match on it).
  if (body.toString("base64url") !== rest[0] || mac.toString("base64url") !== rest[1]) {
    return { ok: false, problem: "MALFORMED" };
  }
  const claims = decodeBody(body);
  if (!claims) return { ok: false, problem: "MALFORMED" };
  if (now.getTime() >= claims.expireUnix * 1000) return { ok: false, problem: "EXPIRED", claims };
  return { ok: true, claims };
}
