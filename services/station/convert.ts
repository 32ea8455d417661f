// Rows → protobuf messages, and the names stored for enums.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { FuelType, Role } from "../../gen/fuel/common/v1/common_pb.js";
import {
  FuelAvailabilitySchema,
  PriceHistoryEntrySchema,
  StationAvailabilitySchema,
  StationSchema,
  StationStatus,
  type FuelAvailability,
  type PriceHistoryEntry,
  type Station,
  type StationAvailability,
} from "../../gen/fuel/station/v1/station_pb.js";
import { isOpenAt, type Hours } from "./opening-hours.js";
import type { FuelRow, HistoryRow, StationRow, StatusName } from "./store.js";

export const STATUS: Record<StatusName, StationStatus> = {
  ACTIVE: StationStatus.ACTIVE,
  TEMPORARILY_CLOSED: StationStatus.TEMPORARILY_CLOSED,
  PERMANENTLY_CLOSED: StationStatus.PERMANENTLY_CLOSED,
};

export function statusName(s: StationStatus): StatusName | null {
  if (s === StationStatus.ACTIVE) return "ACTIVE";
  if (s === StationStatus.TEMPORARILY_CLOSED) return "TEMPORARILY_CLOSED";
  if (s === StationStatus.PERMANENTLY_CLOSED) return "PERMANENTLY_CLOSED";
  return null;
}

export const fuelTypeOf = (name: string): FuelType => FuelType[name as keyof typeof FuelType] ?? FuelType.UNSPECIFIED;
export const roleOf = (name: string): Role => Role[name as keyof typeof Role] ?? Role.UNSPECIFIED;
export const roleName = (r: Role): string => Role[r] ?? "UNSPECIFIED";

export function hoursOf(r: StationRow): Hours {
  return { timeZone: r.time_zone, alwaysOpen: r.always_open, periods: r.periods };
}

/** Open now: ACTIVE and inside its opening hours at `at`. */
export function openAt(r: StationRow, at: Date): boolean {
  return r.status === "ACTIVE" && isOpenAt(hoursOf(r), at);
}

export function stationToProto(r: StationRow): Station {
  return create(StationSchema, {
    stationId: r.station_id,
    merchantId: r.merchant_id,
    name: r.name,
    address: {
      line1: r.address.line1,
      line2: r.address.line2,
      city: r.address.city,
      region: r.address.region,
      postalCode: r.address.postal_code,
      countryCode: r.address.country_code,
    },
    location: { latitude: r.latitude, longitude: r.longitude },
    currency: r.currency,
    openingHours: {
      timeZone: r.time_zone,
      alwaysOpen: r.always_open,
      periods: r.periods.map((p) => ({ weekday: p.weekday, openMinute: p.open, closeMinute: p.close })),
    },
    pumps: r.pumps.map((p) => ({ pumpId: p.pump_id, label: p.label, fuelTypes: p.fuel_types.map(fuelTypeOf) })),
    status: STATUS[r.status],
    version: r.version,
    createTime: timestampFromDate(r.create_time),
    updateTime: timestampFromDate(r.update_time),
  });
}

export function fuelToProto(f: FuelRow): FuelAvailability {
  return create(FuelAvailabilitySchema, {
    fuelType: fuelTypeOf(f.fuel_type),
    inStock: f.in_stock,
    levelMl: f.level_ml ?? undefined,
    priceMinorPerLitre: f.price_minor_per_litre,
    currency: f.currency,
    updateTime: timestampFromDate(f.update_time),
    priceUpdateTime: timestampFromDate(f.price_update_time),
    updatedBy: f.updated_by,
    updatedByRole: roleOf(f.updated_by_role),
  });
}

/** Fuel entries in FuelType order. */
export function fuelsToProto(rows: FuelRow[]): FuelAvailability[] {
  return rows.map(fuelToProto).sort((a, b) => a.fuelType - b.fuelType);
}

export function availabilityToProto(station: StationRow, fuels: FuelRow[], at: Date): StationAvailability {
  return create(StationAvailabilitySchema, {
    stationId: station.station_id,
    fuels: fuelsToProto(fuels),
    openNow: openAt(station, at),
    asOfTime: timestampFromDate(at),
  });
}

export function historyToProto(h: HistoryRow): PriceHistoryEntry {
  return create(PriceHistoryEntrySchema, {
    fuelType: fuelTypeOf(h.fuel_type),
    inStock: h.in_stock,
    levelMl: h.level_ml ?? undefined,
    priceMinorPerLitre: h.price_minor_per_litre,
    previousPriceMinorPerLitre: h.previous_price_minor_per_litre,
    currency: h.currency,
    changedBy: h.changed_by,
    changedByRole: roleOf(h.changed_by_role),
    changeTime: timestampFromDate(h.change_time),
  });
}

/** Groups fuel rows by station id. */
export function byStation(rows: FuelRow[]): Map<string, FuelRow[]> {
  const out = new Map<string, FuelRow[]>();
  for (const r of rows) {
    const list = out.get(r.station_id);
    if (list) list.push(r);
    else out.set(r.station_id, [r]);
  }
  return out;
}
