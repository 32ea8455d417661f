// Field rules of KycService requests. Each throws INVALID_ARGUMENT naming the proto field
// path (e.g. `vehicle.tank_capacity_ml`).
import { FuelType } from "../../gen/fuel/common/v1/common_pb.js";
import type { Owner, Vehicle } from "../../gen/fuel/kyc/v1/kyc_pb.js";
import { invalidArgument } from "../../platform/errors.js";
import * as v from "../../platform/validate.js";
import { normaliseNationalId } from "./pii.js";
import type { OwnerRef } from "./store.js";

const NATIONAL_ID = /^[A-Z0-9]{6,20}$/;
const LICENSE = /^[A-Za-z0-9-]{5,20}$/;
const PLATE = /^(?=.*[A-Za-z0-9])[A-Za-z0-9 -]{2,16}$/;
const REGISTRATION = /^(?=.*[A-Za-z0-9])[A-Za-z0-9/-]{2,32}$/;
const BANK_CODE = /^[A-Z0-9]{2,16}$/;

export const fullName = (field: string, value: string) => v.text(field, value, 2, 100);
export const orgName = (field: string, value: string) => v.text(field, value, 2, 100);

export function nationalId(field: string, value: string): string {
  const n = normaliseNationalId(value);
  if (n === "") throw invalidArgument(field, "is required");
  if (!NATIONAL_ID.test(n)) throw invalidArgument(field, "must be 6-20 letters or digits");
  return n;
}

export function driverLicense(field: string, value: string): string {
  const t = value.trim().toUpperCase();
  if (t === "") throw invalidArgument(field, "is required");
  return v.pattern(field, t, LICENSE, "must be 5-20 letters, digits or dashes");
}

export function optionalEmail(field: string, value: string): string {
  return value.trim() === "" ? "" : v.email(field, value.trim());
}

export interface VehicleInput {
  plateNumber: string;
  fuelType: number;
  tankCapacityMl: bigint;
  makeModel: string;
}

export function vehicle(field: string, value: Vehicle | undefined): VehicleInput {
  if (!value) throw invalidArgument(field, "is required");
  const plate = value.plateNumber.trim().toUpperCase().replace(/\s+/g, " ");
  if (plate === "") throw invalidArgument(`${field}.plate_number`, "is required");
  v.pattern(`${field}.plate_number`, plate, PLATE, "must be 2-16 letters, digits, spaces or dashes");
  const fuelType = v.enumValue(`${field}.fuel_type`, value.fuelType, FuelType);
  v.intRange(`${field}.tank_capacity_ml`, value.tankCapacityMl, 1000n, 2_000_000n);
  const makeModel = value.makeModel.trim() === "" ? "" : v.text(`${field}.make_model`, value.makeModel, 1, 100);
  return { plateNumber: plate, fuelType, tankCapacityMl: value.tankCapacityMl, makeModel };
}

export function registrationNumber(field: string, value: string): string {
  const t = value.trim().toUpperCase();
  if (t === "") throw invalidArgument(field, "is required");
  return v.pattern(field, t, REGISTRATION, "must be 2-32 letters, digits, dashes or slashes");
}

export function bankCode(field: string, value: string): string {
  const t = value.trim();
  if (t === "") throw invalidArgument(field, "is required");
  return v.pattern(field, t, BANK_CODE, "must be 2-16 upper-case letters or digits");
}

export function requiredEmail(field: string, value: string): string {
  if (value.trim() === "") throw invalidArgument(field, "is required");
  return v.email(field, value.trim());
}

export function address(field: string, value: string): string {
  return value.trim() === "" ? "" : v.text(field, value, 1, 300);
}

export function fleetSize(field: string, value: number): number {
  v.intRange(field, value, 0, 100_000);
  return value;
}

/** The Owner oneof: exactly one of `owner.driver_id` / `owner.agency_id`, a UUID. */
export function owner(field: string, value: Owner | undefined): OwnerRef {
  const o = value?.owner;
  if (!o || o.case === undefined) throw invalidArgument(field, "is required: set driver_id or agency_id");
  if (o.case === "driverId") return { kind: "driver", id: v.uuid(`${field}.driver_id`, o.value) };
  return { kind: "agency", id: v.uuid(`${field}.agency_id`, o.value) };
}
