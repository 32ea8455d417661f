// ListMachineCredentials' pure rules: what a caller's list covers once the request's
// filters narrow it, and the page token (the last row's issue instant and client id).
import { Role } from "../../gen/fuel/common/v1/common_pb.js";
import type { Principal } from "../../platform/context.js";
import { invalidArgument } from "../../platform/errors.js";
import { decodePageToken, encodePageToken } from "../../platform/validate.js";
import type { MachineKindName } from "./grant-rules.js";

/** What the request asks for, validated. */
export interface MachineListAsk {
  kind: MachineKindName | null;
  stationId: string | null;
  includeRevoked: boolean;
}

/** The rows a list reads: every non-null field must match. */
export interface MachineListFilter {
  kind: MachineKindName | null;
  merchantId: string | null;
  bankId: string | null;
  stationId: string | null;
  activeOnly: boolean;
}

/**
 * A SYSTEM_ADMIN reaches every credential, a MERCHANT_ADMIN its merchant's terminals, a
 * BANK_ADMIN its bank's systems; the request only narrows that. Null when nothing can
 * match (a kind the caller never sees, a station for a bank), which the caller gets as
 * an empty list, the same answer as for a station of someone else's.
 */
export function machineListFilter(caller: Principal, ask: MachineListAsk): MachineListFilter | null {
  const activeOnly = !ask.includeRevoked;
  switch (caller.role) {
    case Role.SYSTEM_ADMIN:
      return { kind: ask.kind, merchantId: null, bankId: null, stationId: ask.stationId, activeOnly };
    case Role.MERCHANT_ADMIN:
      if (!caller.merchantId || (ask.kind !== null && ask.kind !== "POS_TERMINAL")) return null;
      return { kind: "POS_TERMINAL", merchantId: caller.merchantId, bankId: null, stationId: ask.stationId, activeOnly };
    case Role.BANK_ADMIN:
      if (!caller.bankId || (ask.kind !== null && ask.kind !== "BANK_SYSTEM") || ask.stationId !== null) return null;
      return { kind: "BANK_SYSTEM", merchantId: null, bankId: caller.bankId, stationId: null, activeOnly };
    default:
      return null;
  }
}

/**
 * Where a page ended. The instant keeps Postgres' microseconds: a keyset on a time
 * rounded to milliseconds would skip rows issued within the same millisecond.
 */
export interface MachineCursor {
  /** create_time in microseconds since the Unix epoch. */
  createTimeUs: bigint;
  clientId: string;
}

/** 9999-12-31T23:59:59.999999Z: past this an instant has no four-digit year. */
const MICROS_MAX = 253_402_300_799_999_999n;
const CLIENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function encodeMachineCursor(c: MachineCursor): string {
  return encodePageToken({ t: c.createTimeUs.toString(), id: c.clientId });
}

/** Null for the first page; a token not of our making is INVALID_ARGUMENT, never a SQL error. */
export function decodeMachineCursor(token: string, field = "page_token"): MachineCursor | null {
  const key = decodePageToken(token, ["t", "id"], field);
  if (!key) return null;
  if (!/^\d{1,18}$/.test(key.t) || BigInt(key.t) > MICROS_MAX || !CLIENT_ID.test(key.id)) {
    throw invalidArgument(field, "is not a token from a previous response");
  }
  return { createTimeUs: BigInt(key.t), clientId: key.id };
}

/** The instant as ISO-8601 text exact to the microsecond, for a timestamptz parameter. */
export function timestampTextOfMicros(us: bigint): string {
  const iso = new Date(Number(us / 1000n)).toISOString();
  return `${iso.slice(0, -1)}${(us % 1000n).toString().padStart(3, "0")}Z`;
}
