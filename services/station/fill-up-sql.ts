// FindFillUpStations' one query: ACTIVE stations within the radius that sell, in stock at
// a price, a fuel the driver's line allows, at a station its controls allow, with a fresh
// enough price when stale ones do not count. Nearest first on the GiST index's
// nearest-neighbour scan (as SearchNearby), or cheapest first for one fuel. Each row is
// the station's stored JSON document with its fuels (store.ts says why).
import { many, type Pool } from "../../platform/db.js";
import { metresOnIndexSphere, metresToChord, type LatLng } from "./geo.js";
import type { NearbyRaw } from "./store.js";

export interface FillUpQuery {
  center: LatLng;
  radiusM: number;
  /** Fuel type names the line allows (and the request asks for); null: any. */
  fuelTypes: string[] | null;
  /** Each level's station restriction: a station must satisfy every one. */
  scopes: { stationIds: string[]; merchantIds: string[] }[];
  /** Only prices set at or after this count; null: any age. */
  freshSince: Date | null;
  /** Cheapest first by this fuel's price (one fuel); null: nearest first. */
  priceOf: string | null;
  limit: number;
}

export function fillUpSql(q: FillUpQuery): { text: string; values: unknown[] } {
  const values: unknown[] = [q.center.latitude, q.center.longitude, metresOnIndexSphere(q.radiusM), metresToChord(q.radiusM)];
  const at = (v: unknown) => `$${values.push(v)}`;
  const center = `station.geo_point($1::float8, $2::float8)`;
  const chord = `(s.geo OPERATOR(public.<->) ${center})`;
  const sellable = (f: string) =>
    `${f}.in_stock AND ${f}.price_minor_per_litre > 0` +
    (q.fuelTypes ? ` AND ${f}.fuel_type = ANY(${at(q.fuelTypes)}::text[])` : "") +
    (q.freshSince ? ` AND ${f}.price_update_time >= ${at(q.freshSince)}::timestamptz` : "");
  const scopes = q.scopes
    .map((sc) => `AND (s.station_id = ANY(${at(sc.stationIds)}::uuid[]) OR s.merchant_id = ANY(${at(sc.merchantIds)}::uuid[]))`)
    .join(" ");
  let join = "";
  let price = "NULL::bigint";
  let order = "chord";
  if (q.priceOf) {
    join = `JOIN station.fuel_availability f ON f.station_id = s.station_id AND f.fuel_type = ${at(q.priceOf)} AND ${sellable("f")}`;
    price = "f.price_minor_per_litre";
    order = "f.price_minor_per_litre, chord, s.station_id";
  }
  const limit = at(q.limit);
  return {
    text: `SELECT ${chord} AS chord, ${price}::text AS price, s.doc AS station, s.fuels_doc AS fuels
      FROM station.stations s ${join}
      WHERE s.status = 'ACTIVE'
        AND station.geo_box(${center}, $3::float8) OPERATOR(public.@>) s.geo
        AND ${chord} <= $4::float8
        ${scopes}
        ${q.priceOf ? "" : `AND EXISTS (SELECT 1 FROM station.fuel_availability fa WHERE fa.station_id = s.station_id AND ${sellable("fa")})`}
      ORDER BY ${order}
      LIMIT ${limit}`,
    values,
  };
}

export async function fillUpRows(db: Pool, q: FillUpQuery): Promise<NearbyRaw[]> {
  const { text, values } = fillUpSql(q);
  return await many<NearbyRaw>(db, text, values);
}
