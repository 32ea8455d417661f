// FindFillUpStations' one query: ACTIVE stations within the radius that sell, in stock at
// a price in the line's currency that buys at least a millilitre, a fuel the driver's line
// allows, at a station its controls allow, with a fresh enough price when stale ones do
// not count. Nearest first on the GiST index's nearest-neighbour scan (as SearchNearby),
// or cheapest first for one fuel. Each row is the station's stored JSON document with its
// fuels (store.ts says why).
//
// "Open now" is each station's own hours in its own time zone, judged in TypeScript by the
// one rule SearchNearby uses too (opening-hours.ts), so a caller that drops closed rows
// reads on from where a batch ended: `after` is the keyset of the rows already read.
import { many, type Pool } from "../../platform/db.js";
import { metresOnIndexSphere, metresToChord, type LatLng } from "./geo.js";
import type { NearbyRaw } from "./store.js";

/**
 * Where the next batch starts. Nearest first orders by distance alone (a KNN scan needs
 * the whole ORDER BY to be the distance), so stations at the same distance arrive in no
 * set order: the next batch takes what is farther, or as far but not yet read.
 */
export type FillUpAfter =
  | { chord: number; idsAtChord: string[] }
  | { priceMinorPerLitre: string; chord: number; stationId: string };

export interface FillUpQuery {
  center: LatLng;
  radiusM: number;
  /** Fuel type names the line allows (and the request asks for); null: any. */
  fuelTypes: string[] | null;
  /** The line's currency: a price in another is no price for this driver. */
  currency: string;
  /** Dearest price at which the spendable amount still buys a millilitre. */
  maxPriceMinorPerLitre: bigint;
  /** Each level's station restriction: a station must satisfy every one. */
  scopes: { stationIds: string[]; merchantIds: string[] }[];
  /** Only prices set at or after this count; null: any age. */
  freshSince: Date | null;
  /** Cheapest first by this fuel's price (one fuel); null: nearest first. */
  priceOf: string | null;
  /** Rows strictly after these (null: from the start). */
  after?: FillUpAfter | null;
  limit: number;
}

export function fillUpSql(q: FillUpQuery): { text: string; values: unknown[] } {
  const values: unknown[] = [q.center.latitude, q.center.longitude, metresOnIndexSphere(q.radiusM), metresToChord(q.radiusM)];
  const at = (v: unknown) => `$${values.push(v)}`;
  const center = `station.geo_point($1::float8, $2::float8)`;
  const chord = `(s.geo OPERATOR(public.<->) ${center})`;
  const currency = at(q.currency);
  const maxPrice = at(q.maxPriceMinorPerLitre.toString());
  const sellable = (f: string) =>
    `${f}.in_stock AND ${f}.price_minor_per_litre BETWEEN 1 AND ${maxPrice}::bigint AND ${f}.currency = ${currency}` +
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
  let keyset = "";
  const a = q.after;
  if (a && "idsAtChord" in a) {
    const c = at(a.chord);
    keyset = `AND (${chord} > ${c}::float8 OR (${chord} = ${c}::float8 AND s.station_id <> ALL(${at(a.idsAtChord)}::uuid[])))`;
  } else if (a) {
    keyset = `AND (${price}, ${chord}, s.station_id) > (${at(a.priceMinorPerLitre)}::bigint, ${at(a.chord)}::float8, ${at(a.stationId)}::uuid)`;
  }
  const limit = at(q.limit);
  return {
    text: `SELECT ${chord} AS chord, ${price}::text AS price, s.doc AS station, s.fuels_doc AS fuels
      FROM station.stations s ${join}
      WHERE s.status = 'ACTIVE'
        AND station.geo_box(${center}, $3::float8) OPERATOR(public.@>) s.geo
        AND ${chord} <= $4::float8
        ${scopes} ${keyset}
        ${q.priceOf ? "" : `AND EXISTS (SELECT 1 FROM station.fuel_availability fa WHERE fa.station_id = s.station_id AND ${sellable("fa")})`}
      ORDER BY ${order}
      LIMIT ${limit}`,
    values,
  };
}

/** Where the batch after `rows` starts, given where `rows` started. */
export function fillUpAfter(rows: readonly NearbyRaw[], prev: FillUpAfter | null, byPrice: boolean): FillUpAfter | null {
  const last = rows[rows.length - 1];
  if (!last) return prev;
  if (byPrice) return { priceMinorPerLitre: last.price ?? "0", chord: last.chord, stationId: last.station.station_id };
  const ids = rows.filter((r) => r.chord === last.chord).map((r) => r.station.station_id);
  if (prev && "idsAtChord" in prev && prev.chord === last.chord) ids.push(...prev.idsAtChord);
  return { chord: last.chord, idsAtChord: ids };
}

export async function fillUpRows(db: Pool, q: FillUpQuery): Promise<NearbyRaw[]> {
  const { text, values } = fillUpSql(q);
  return await many<NearbyRaw>(db, text, values);
}
