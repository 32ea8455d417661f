// Object-level access to stations. The method policy (proto options) already checked the
// role; this decides, from the station row, whether this caller may write this station.
// A station the caller may not write is reported NOT_FOUND, so ids cannot be probed.
import { Role } from "../../gen/fuel/common/v1/common_pb.js";
import type { Principal } from "../../platform/context.js";
import { notFound } from "../../platform/errors.js";
import type { StationRow } from "./store.js";

/** May this caller change the station itself (name, location, pumps, status)? */
export function mayManage(p: Principal, station: Pick<StationRow, "merchant_id">): boolean {
  if (p.role === Role.SYSTEM_ADMIN) return true;
  return p.role === Role.MERCHANT_ADMIN && p.merchantId !== "" && p.merchantId.toLowerCase() === station.merchant_id;
}

/** May this caller set the station's fuel availability and prices? */
export function mayUpdateAvailability(p: Principal, station: Pick<StationRow, "station_id" | "merchant_id">): boolean {
  // A terminal's station and merchant must both be this station's, so a stored credential
  // bound to a station of another merchant would write nothing.
  if (p.role === Role.POS_TERMINAL) {
    return p.stationId !== "" && p.stationId.toLowerCase() === station.station_id && p.merchantId.toLowerCase() === station.merchant_id;
  }
  return p.role === Role.MERCHANT_ADMIN && p.merchantId !== "" && p.merchantId.toLowerCase() === station.merchant_id;
}

/** The station if it exists and `allowed` says this caller may write it; else NOT_FOUND. */
export function writable<R extends StationRow>(row: R | undefined, allowed: (r: R) => boolean): R {
  if (!row || !allowed(row)) throw notFound("station");
  return row;
}
