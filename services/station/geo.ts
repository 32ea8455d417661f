// Geometry of nearby search, as pure functions. Distances are great-circle distances on
// a sphere of the mean Earth radius (6371008.8 m, what the contract promises). The index
// works on earthdistance's sphere (radius 6378168 m, `public.earth()`), where positions
// are 3-D points and the cube `<->` operator gives the straight-line (chord) distance;
// a chord maps to an angle independent of the radius, so the conversions are exact.
import { invalidArgument } from "../../platform/errors.js";

/** Mean Earth radius (IUGG), metres: the sphere distances are reported on. */
export const EARTH_RADIUS_M = 6_371_008.8;
/** earthdistance's `earth()`, metres: the sphere positions are indexed on. */
export const INDEX_SPHERE_RADIUS_M = 6_378_168;

export const MIN_RADIUS_M = 1;
export const MAX_RADIUS_M = 50_000;

export interface LatLng {
  latitude: number;
  longitude: number;
}

const rad = (deg: number) => (deg * Math.PI) / 180;

/** Great-circle distance in metres by the haversine formula: the reference. */
export function haversineMetres(a: LatLng, b: LatLng): number {
  const dLat = rad(b.latitude - a.latitude);
  const dLng = rad(b.longitude - a.longitude);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.latitude)) * Math.cos(rad(b.latitude)) * Math.sin(dLng / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Great-circle metres (on the mean sphere) for a chord measured on the index sphere. */
export function chordToMetres(chord: number): number {
  const half = Math.min(1, Math.max(0, chord / (2 * INDEX_SPHERE_RADIUS_M)));
  return 2 * EARTH_RADIUS_M * Math.asin(half);
}

/** The chord on the index sphere of a great-circle distance in metres on the mean sphere. */
export function metresToChord(metres: number): number {
  const angle = Math.min(Math.PI, Math.max(0, metres / EARTH_RADIUS_M));
  return 2 * INDEX_SPHERE_RADIUS_M * Math.sin(angle / 2);
}

/** The same angle expressed as metres on the index sphere (what `earth_box` expects). */
export function metresOnIndexSphere(metres: number): number {
  return (metres * INDEX_SPHERE_RADIUS_M) / EARTH_RADIUS_M;
}

/** A point, validated to WGS 84 ranges; `field` is the message field, e.g. `location`. */
export function latLng(field: string, value: LatLng | undefined): LatLng {
  if (!value) throw invalidArgument(field, "is required");
  const { latitude, longitude } = value;
  if (!Number.isFinite(latitude) || latitude < -90 || latitude > 90) {
    throw invalidArgument(`${field}.latitude`, "must be from -90 to 90 degrees");
  }
  if (!Number.isFinite(longitude) || longitude < -180 || longitude > 180) {
    throw invalidArgument(`${field}.longitude`, "must be from -180 to 180 degrees");
  }
  return { latitude, longitude };
}

export function radius(field: string, value: number): number {
  if (!Number.isInteger(value) || value < MIN_RADIUS_M || value > MAX_RADIUS_M) {
    throw invalidArgument(field, `must be from ${MIN_RADIUS_M} to ${MAX_RADIUS_M} metres`);
  }
  return value;
}
