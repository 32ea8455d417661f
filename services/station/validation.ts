// Validation of station input: each rule throws INVALID_ARGUMENT naming the proto field.
import { FuelType } from "../../gen/fuel/common/v1/common_pb.js";
import type { Address, Pump } from "../../gen/fuel/station/v1/station_pb.js";
import { invalidArgument } from "../../platform/errors.js";
import * as v from "../../platform/validate.js";

export interface AddressRow {
  line1: string;
  line2: string;
  city: string;
  region: string;
  postal_code: string;
  country_code: string;
}

export interface PumpRow {
  pump_id: string;
  label: string;
  fuel_types: string[];
}

export const MAX_PUMPS = 64;
/** Largest price or level accepted: far above any real one, far below int64 overflow. */
export const MAX_AMOUNT = 1_000_000_000_000n;

export function stationName(field: string, value: string): string {
  return v.text(field, value, 1, 120);
}

export function address(field: string, a: Address | undefined): AddressRow {
  if (!a) throw invalidArgument(field, "is required");
  const optional = (f: string, s: string, max: number) => (s.trim() === "" ? "" : v.text(`${field}.${f}`, s, 0, max));
  const country = a.countryCode.trim().toUpperCase();
  if (!/^[A-Z]{2}$/.test(country)) throw invalidArgument(`${field}.country_code`, "must be an ISO 3166-1 alpha-2 code like NG");
  return {
    line1: v.text(`${field}.line1`, a.line1, 1, 200),
    line2: optional("line2", a.line2, 200),
    city: v.text(`${field}.city`, a.city, 1, 100),
    region: optional("region", a.region, 100),
    postal_code: optional("postal_code", a.postalCode, 20),
    country_code: country,
  };
}

/** A known, set fuel type, as its stored name (e.g. "PETROL"). */
export function fuelType(field: string, value: number): string {
  v.enumValue(field, value, FuelType);
  return FuelType[value as FuelType];
}

/**
 * The pump list. `existing` are the station's current pumps (update): a pump with a
 * pump_id must be one of them; on create (`existing` null) pump_id must be empty.
 */
export function pumps(field: string, list: Pump[], existing: PumpRow[] | null, newId: () => string): PumpRow[] {
  if (list.length < 1 || list.length > MAX_PUMPS) throw invalidArgument(field, `must have from 1 to ${MAX_PUMPS} pumps`);
  const labels = new Set<string>();
  const ids = new Set<string>();
  const known = new Set((existing ?? []).map((p) => p.pump_id));
  return list.map((p, i) => {
    const f = `${field}[${i}]`;
    let pumpId: string;
    if (p.pumpId === "") {
      pumpId = newId();
    } else {
      if (existing === null) throw invalidArgument(`${f}.pump_id`, "must be empty for a new station");
      pumpId = v.uuid(`${f}.pump_id`, p.pumpId);
      if (!known.has(pumpId)) throw invalidArgument(`${f}.pump_id`, "is not a pump of this station");
      if (ids.has(pumpId)) throw invalidArgument(`${f}.pump_id`, "is listed twice");
      ids.add(pumpId);
    }
    const label = v.text(`${f}.label`, p.label, 1, 16);
    if (labels.has(label.toLowerCase())) throw invalidArgument(`${f}.label`, "is used by another pump of this station", "DUPLICATE_PUMP_LABEL");
    labels.add(label.toLowerCase());
    if (p.fuelTypes.length === 0) throw invalidArgument(`${f}.fuel_types`, "must name at least one fuel type");
    const types = p.fuelTypes.map((t, j) => fuelType(`${f}.fuel_types[${j}]`, t));
    if (new Set(types).size !== types.length) throw invalidArgument(`${f}.fuel_types`, "must not repeat a fuel type");
    return { pump_id: pumpId, label, fuel_types: types };
  });
}

/** Every fuel type some pump offers, in FuelType order. */
export function offeredFuelTypes(list: PumpRow[]): string[] {
  const set = new Set(list.flatMap((p) => p.fuel_types));
  return [...set].sort((a, b) => FuelType[a as keyof typeof FuelType] - FuelType[b as keyof typeof FuelType]);
}

/** A price or volume in minor units / millilitres. */
export function positiveAmount(field: string, value: bigint): bigint {
  if (value <= 0n) throw invalidArgument(field, "must be greater than 0");
  if (value > MAX_AMOUNT) throw invalidArgument(field, `must be at most ${MAX_AMOUNT}`);
  return value;
}

export function level(field: string, value: bigint | undefined): bigint | null {
  if (value === undefined) return null;
  if (value < 0n) throw invalidArgument(field, "must not be negative");
  if (value > MAX_AMOUNT) throw invalidArgument(field, `must be at most ${MAX_AMOUNT}`);
  return value;
}
