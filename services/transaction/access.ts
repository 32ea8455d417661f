// Object-level access to transactions, from the row. Anything a caller may not see is
// NOT_FOUND (never PERMISSION_DENIED), so transaction ids cannot be probed.
import type { HandlerContext } from "@connectrpc/connect";
import { Role } from "../../gen/fuel/common/v1/common_pb.js";
import { callInfo, type Principal } from "../../platform/context.js";
import { notFound } from "../../platform/errors.js";
import { GATEWAY_SERVICE } from "../../platform/policy.js";
import type { ListFilter, TxnRow } from "./store.js";

export type Scope =
  | { kind: "all" }
  | { kind: "driver"; driverId: string }
  | { kind: "agency"; agencyId: string }
  | { kind: "merchant"; merchantId: string }
  | { kind: "station"; stationId: string; merchantId: string }
  | { kind: "bank"; bankId: string }
  | { kind: "none" };

/** What a caller may read. */
export function readScope(ctx: HandlerContext): Scope {
  const info = callInfo(ctx);
  if (info.callerService !== null && info.callerService !== GATEWAY_SERVICE) return { kind: "all" };
  return scopeOf(info.principal);
}

export function scopeOf(p: Principal | null): Scope {
  if (!p) return { kind: "none" };
  switch (p.role) {
    case Role.SYSTEM_ADMIN:
    case Role.SERVICE:
      return { kind: "all" };
    case Role.DRIVER:
      return p.driverId ? { kind: "driver", driverId: p.driverId } : { kind: "none" };
    case Role.AGENCY_ADMIN:
      return p.agencyId ? { kind: "agency", agencyId: p.agencyId } : { kind: "none" };
    case Role.MERCHANT_ADMIN:
      return p.merchantId ? { kind: "merchant", merchantId: p.merchantId } : { kind: "none" };
    case Role.POS_TERMINAL:
      // Both halves of the terminal's binding must match the row, so a stored credential
      // whose station is another merchant's would see nothing.
      return p.stationId && p.merchantId ? { kind: "station", stationId: p.stationId, merchantId: p.merchantId } : { kind: "none" };
    case Role.BANK_ADMIN:
    case Role.BANK_SYSTEM:
      return p.bankId ? { kind: "bank", bankId: p.bankId } : { kind: "none" };
    default:
      return { kind: "none" };
  }
}

export function visible(s: Scope, r: TxnRow): boolean {
  switch (s.kind) {
    case "all":
      return true;
    case "driver":
      return r.driver_id === s.driverId;
    case "agency":
      return r.agency_id === s.agencyId;
    case "merchant":
      return r.merchant_id === s.merchantId;
    case "station":
      return r.station_id === s.stationId && r.merchant_id === s.merchantId;
    case "bank":
      return r.bank_id === s.bankId;
    case "none":
      return false;
  }
}

/** The scope as list filters; `false` when the caller may see nothing. */
export function scopeFilter(s: Scope): Partial<ListFilter> | false {
  switch (s.kind) {
    case "all":
      return {};
    case "driver":
      return { driverId: s.driverId };
    case "agency":
      return { agencyId: s.agencyId };
    case "merchant":
      return { merchantId: s.merchantId };
    case "station":
      return { stationId: s.stationId, merchantId: s.merchantId };
    case "bank":
      return { bankId: s.bankId };
    case "none":
      return false;
  }
}

/**
 * Who may settle or void: a terminal of the transaction's station, an admin of its
 * merchant, and (void only) a system admin.
 */
export function mayOperate(p: Principal, r: TxnRow, allowSystemAdmin: boolean): boolean {
  switch (p.role) {
    case Role.POS_TERMINAL:
      return !!p.stationId && p.stationId === r.station_id && !!p.merchantId && p.merchantId === r.merchant_id;
    case Role.MERCHANT_ADMIN:
      return !!p.merchantId && p.merchantId === r.merchant_id;
    case Role.SYSTEM_ADMIN:
      return allowSystemAdmin;
    default:
      return false;
  }
}

/** mayOperate as conditions on the row (store.startStep); null when this caller may move none. */
export function operatorOf(p: Principal, allowSystemAdmin: boolean): { stationId: string | null; merchantId: string | null } | null {
  switch (p.role) {
    case Role.POS_TERMINAL:
      return p.stationId && p.merchantId ? { stationId: p.stationId, merchantId: p.merchantId } : null;
    case Role.MERCHANT_ADMIN:
      return p.merchantId ? { stationId: null, merchantId: p.merchantId } : null;
    case Role.SYSTEM_ADMIN:
      return allowSystemAdmin ? { stationId: null, merchantId: null } : null;
    default:
      return null;
  }
}

export const transactionNotFound = () => notFound("transaction", "TRANSACTION_NOT_FOUND");

export function visibleOr404(s: Scope, r: TxnRow | undefined): TxnRow {
  if (!r || !visible(s, r)) throw transactionNotFound();
  return r;
}
