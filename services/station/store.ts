// StationService SQL. Every table and function is schema-qualified (station.*, public.*
// for the cube operators): the embedded PGlite shares one session between services, so
// nothing here relies on search_path. int8 comes back as bigint; float8 as number.
import { many, one, type Pool, type Tx } from "../../platform/db.js";
import { metresOnIndexSphere, metresToChord, type LatLng } from "./geo.js";
import type { Period } from "./opening-hours.js";
import type { AddressRow, PumpRow } from "./validation.js";

export type StatusName = "ACTIVE" | "TEMPORARILY_CLOSED" | "PERMANENTLY_CLOSED";

export interface StationRow {
  station_id: string;
  merchant_id: string;
  name: string;
  address: AddressRow;
  latitude: number;
  longitude: number;
  currency: string;
  time_zone: string;
  always_open: boolean;
  periods: Period[];
  pumps: PumpRow[];
  fuel_types: string[];
  status: StatusName;
  version: bigint;
  created_by: string;
  create_time: Date;
  update_time: Date;
}

export interface FuelRow {
  station_id: string;
  fuel_type: string;
  in_stock: boolean;
  level_ml: bigint | null;
  price_minor_per_litre: bigint;
  currency: string;
  update_time: Date;
  price_update_time: Date;
  updated_by: string;
  updated_by_role: string;
}

export interface HistoryRow {
  entry_id: bigint;
  station_id: string;
  fuel_type: string;
  in_stock: boolean;
  level_ml: bigint | null;
  price_minor_per_litre: bigint;
  previous_price_minor_per_litre: bigint;
  currency: string;
  changed_by: string;
  changed_by_role: string;
  change_time: Date;
}

const STATION_COLUMNS = `s.station_id, s.merchant_id, s.name, s.address, s.latitude, s.longitude, s.currency,
  s.time_zone, s.always_open, s.periods, s.pumps, s.fuel_types, s.status, s.version, s.created_by,
  s.create_time, s.update_time`;

// ---------------------------------------------------------------- stations

export async function insertStation(db: Pool | Tx, r: StationRow): Promise<StationRow> {
  return (await one<StationRow>(
    db,
    `INSERT INTO station.stations AS s (station_id, merchant_id, name, address, latitude, longitude, currency,
       time_zone, always_open, periods, pumps, fuel_types, status, version, created_by, create_time, update_time)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
     RETURNING ${STATION_COLUMNS}`,
    [r.station_id, r.merchant_id, r.name, JSON.stringify(r.address), r.latitude, r.longitude, r.currency, r.time_zone,
      r.always_open, JSON.stringify(r.periods), JSON.stringify(r.pumps), r.fuel_types, r.status, r.version, r.created_by,
      r.create_time, r.update_time],
  ))!;
}

export async function getStation(db: Pool | Tx, stationId: string, lock = false): Promise<StationRow | undefined> {
  return await one<StationRow>(
    db,
    `SELECT ${STATION_COLUMNS} FROM station.stations s WHERE s.station_id = $1${lock ? " FOR UPDATE" : ""}`,
    [stationId],
  );
}

/** A station with its fuel availability, in one round trip (GetStation with availability, on every authorization). */
export async function getStationWithFuels(db: Pool | Tx, stationId: string): Promise<StationWithFuels | undefined> {
  const raw = await one<StationRaw>(db, `SELECT s.doc AS station, s.fuels_doc AS fuels FROM station.stations s WHERE s.station_id = $1`, [stationId]);
  return raw && stationWithFuels(raw);
}

/** Writes the mutable fields of a station and bumps its version. */
export async function saveStation(tx: Tx, r: StationRow): Promise<StationRow> {
  return (await one<StationRow>(
    tx,
    `UPDATE station.stations AS s SET name = $2, address = $3, latitude = $4, longitude = $5, time_zone = $6,
       always_open = $7, periods = $8, pumps = $9, fuel_types = $10, status = $11, update_time = $12,
       version = s.version + 1
     WHERE s.station_id = $1
     RETURNING ${STATION_COLUMNS}`,
    [r.station_id, r.name, JSON.stringify(r.address), r.latitude, r.longitude, r.time_zone, r.always_open,
      JSON.stringify(r.periods), JSON.stringify(r.pumps), r.fuel_types, r.status, r.update_time],
  ))!;
}

export async function listStations(
  db: Pool,
  q: { merchantId: string | null; statuses: StatusName[]; after: { name: string; id: string } | null; limit: number },
): Promise<StationRow[]> {
  return await many<StationRow>(
    db,
    `SELECT ${STATION_COLUMNS} FROM station.stations s
     WHERE ($1::uuid IS NULL OR s.merchant_id = $1)
       AND (cardinality($2::text[]) = 0 OR s.status = ANY($2))
       AND ($3::text IS NULL OR (s.name, s.station_id) > ($3, $4::uuid))
     ORDER BY s.name, s.station_id
     LIMIT $5`,
    [q.merchantId, q.statuses, q.after?.name ?? null, q.after?.id ?? null, q.limit],
  );
}

export async function stationsByIds(db: Pool, ids: string[]): Promise<StationRow[]> {
  if (ids.length === 0) return [];
  return await many<StationRow>(db, `SELECT ${STATION_COLUMNS} FROM station.stations s WHERE s.station_id = ANY($1::uuid[])`, [ids]);
}

// ---------------------------------------------------------------- availability

const FUEL_COLUMNS = `f.station_id, f.fuel_type, f.in_stock, f.level_ml, f.price_minor_per_litre, f.currency,
  f.update_time, f.price_update_time, f.updated_by, f.updated_by_role`;

export async function fuelsOf(db: Pool | Tx, stationIds: string[], fuelTypes: string[] | null = null, lock = false): Promise<FuelRow[]> {
  if (stationIds.length === 0) return [];
  return await many<FuelRow>(
    db,
    `SELECT ${FUEL_COLUMNS} FROM station.fuel_availability f
     WHERE f.station_id = ANY($1::uuid[]) AND ($2::text[] IS NULL OR f.fuel_type = ANY($2))
     ORDER BY f.station_id, f.fuel_type${lock ? " FOR UPDATE" : ""}`,
    [stationIds, fuelTypes],
  );
}

export async function upsertFuel(tx: Tx, r: FuelRow): Promise<void> {
  await tx.query(
    `INSERT INTO station.fuel_availability AS f (station_id, fuel_type, in_stock, level_ml, price_minor_per_litre,
       currency, update_time, price_update_time, updated_by, updated_by_role)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (station_id, fuel_type) DO UPDATE SET in_stock = EXCLUDED.in_stock, level_ml = EXCLUDED.level_ml,
       price_minor_per_litre = EXCLUDED.price_minor_per_litre, currency = EXCLUDED.currency,
       update_time = EXCLUDED.update_time, price_update_time = EXCLUDED.price_update_time,
       updated_by = EXCLUDED.updated_by, updated_by_role = EXCLUDED.updated_by_role`,
    [r.station_id, r.fuel_type, r.in_stock, r.level_ml, r.price_minor_per_litre, r.currency, r.update_time,
      r.price_update_time, r.updated_by, r.updated_by_role],
  );
}

export async function appendHistory(tx: Tx, r: Omit<HistoryRow, "entry_id">): Promise<void> {
  await tx.query(
    `INSERT INTO station.price_history (station_id, fuel_type, in_stock, level_ml, price_minor_per_litre,
       previous_price_minor_per_litre, currency, changed_by, changed_by_role, change_time)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [r.station_id, r.fuel_type, r.in_stock, r.level_ml, r.price_minor_per_litre, r.previous_price_minor_per_litre,
      r.currency, r.changed_by, r.changed_by_role, r.change_time],
  );
}

/** The channel every replica LISTENs on; payload `<station_id>:<FUEL>,<FUEL>`. */
export const CHANGES_CHANNEL = "station_availability";

export async function notifyChange(tx: Tx, stationId: string, fuelTypes: string[]): Promise<void> {
  await tx.query(`SELECT pg_notify($1, $2)`, [CHANGES_CHANNEL, `${stationId}:${fuelTypes.join(",")}`]);
}

export async function history(
  db: Pool,
  q: { stationId: string; fuelType: string | null; start: Date | null; end: Date | null; before: { time: string; id: string } | null; limit: number },
): Promise<HistoryRow[]> {
  return await many<HistoryRow>(
    db,
    `SELECT h.entry_id, h.station_id, h.fuel_type, h.in_stock, h.level_ml, h.price_minor_per_litre,
       h.previous_price_minor_per_litre, h.currency, h.changed_by, h.changed_by_role, h.change_time
     FROM station.price_history h
     WHERE h.station_id = $1
       AND ($2::text IS NULL OR h.fuel_type = $2)
       AND ($3::timestamptz IS NULL OR h.change_time >= $3)
       AND ($4::timestamptz IS NULL OR h.change_time < $4)
       AND ($5::timestamptz IS NULL OR (h.change_time, h.entry_id) < ($5, $6::bigint))
     ORDER BY h.change_time DESC, h.entry_id DESC
     LIMIT $7`,
    [q.stationId, q.fuelType, q.start, q.end, q.before?.time ?? null, q.before?.id ?? null, q.limit],
  );
}

// ---------------------------------------------------------------- nearby

export interface NearbyQuery {
  center: LatLng;
  radiusM: number;
  /** Only stations where this fuel type is in stock (required for sort by price). */
  fuelType: string | null;
  sort: "DISTANCE" | "PRICE";
  /** Also read each station's fuel availability (what a search result shows). */
  withFuels?: boolean;
  /** Keyset: rows strictly after this (price, chord, id). */
  after: { price: string | null; chord: string; id: string } | null;
  limit: number;
}

export interface StationWithFuels extends StationRow {
  /** The station's fuel availability, when the query asked for it (else empty). */
  fuels: FuelRow[];
}

// A nearby page is read as one JSON document per station with its fuels nested, not as
// typed columns plus a second query for availability: one round trip instead of two, and
// parsing 20 JSON texts costs a fraction of node-pg's per-column parsers (two timestamps,
// a text array, three jsonb values per row). The documents are stored with the row and
// kept current by the database (migrations/station/002_search_documents.sql), so a read
// builds nothing. Timestamps travel as epoch milliseconds; int8 values as strings, so no
// money or counter passes through a float.

export type StationJson = Omit<StationRow, "version" | "create_time" | "update_time"> & { version: string; create_ms: number; update_ms: number };
export type FuelJson = Omit<FuelRow, "station_id" | "level_ml" | "price_minor_per_litre" | "update_time" | "price_update_time"> & {
  level_ml: string | null;
  price_minor_per_litre: string;
  update_ms: number;
  price_update_ms: number;
};
interface StationRaw {
  station: StationJson;
  fuels?: FuelJson[] | null;
}
export interface NearbyRaw extends StationRaw {
  chord: number;
  price: string | null;
}

function stationWithFuels(r: StationRaw): StationWithFuels {
  const s = r.station;
  return {
    station_id: s.station_id, merchant_id: s.merchant_id, name: s.name, address: s.address, latitude: s.latitude,
    longitude: s.longitude, currency: s.currency, time_zone: s.time_zone, always_open: s.always_open, periods: s.periods,
    pumps: s.pumps, fuel_types: s.fuel_types, status: s.status, version: BigInt(s.version), created_by: s.created_by,
    create_time: new Date(s.create_ms), update_time: new Date(s.update_ms),
    fuels: (r.fuels ?? []).map((f) => ({
      station_id: s.station_id, fuel_type: f.fuel_type, in_stock: f.in_stock,
      level_ml: f.level_ml === null ? null : BigInt(f.level_ml), price_minor_per_litre: BigInt(f.price_minor_per_litre),
      currency: f.currency, update_time: new Date(f.update_ms), price_update_time: new Date(f.price_update_ms),
      updated_by: f.updated_by, updated_by_role: f.updated_by_role,
    })),
  };
}


/**
 * ACTIVE stations within the radius. The GiST index on `geo` answers
 * `geo_box(center, r) @> geo` (earth_box) and, for the distance order, serves
 * `ORDER BY geo <-> center` as a nearest-neighbour (KNN) scan; the exact chord bound then
 * drops the box's corners. Price order sorts the box's rows by (price, chord, id).
 *
 * The distance order is by chord alone, because PostgreSQL builds a KNN scan only when
 * the whole ORDER BY is the distance; `nearbyRaw` breaks ties by station id itself.
 * `exactChord` restricts to one distance (to complete a tie group).
 */
export function nearbySql(q: NearbyQuery & { exactChord?: number }): { text: string; values: unknown[] } {
  const values: unknown[] = [q.center.latitude, q.center.longitude, metresOnIndexSphere(q.radiusM), metresToChord(q.radiusM)];
  const center = `station.geo_point($1::float8, $2::float8)`;
  const chord = `(s.geo OPERATOR(public.<->) ${center})`;
  let join = "";
  let price = "NULL::bigint";
  if (q.fuelType) {
    values.push(q.fuelType);
    join = `JOIN station.fuel_availability f ON f.station_id = s.station_id AND f.fuel_type = $${values.length} AND f.in_stock`;
    price = "f.price_minor_per_litre";
  }
  let keyset = "";
  if (q.after) {
    values.push(q.after.chord, q.after.id);
    const [c, id] = [`$${values.length - 1}::float8`, `$${values.length}::uuid`];
    if (q.sort === "PRICE") {
      values.push(q.after.price);
      keyset = `AND (${price}, ${chord}, s.station_id) > ($${values.length}::bigint, ${c}, ${id})`;
    } else {
      keyset = `AND (${chord}, s.station_id) > (${c}, ${id})`;
    }
  }
  let tie = "";
  if (q.exactChord !== undefined) {
    values.push(q.exactChord);
    tie = `AND ${chord} = $${values.length}::float8`;
  }
  values.push(q.limit);
  const order = q.sort === "PRICE" ? `${price}, chord, s.station_id` : `chord`;
  return {
    text: `SELECT ${chord} AS chord, ${price}::text AS price, s.doc AS station${q.withFuels ? ", s.fuels_doc AS fuels" : ""}
      FROM station.stations s ${join}
      WHERE s.status = 'ACTIVE'
        AND station.geo_box(${center}, $3::float8) OPERATOR(public.@>) s.geo
        AND ${chord} <= $4::float8
        ${keyset} ${tie}
      ORDER BY ${order}
      LIMIT $${values.length}`,
    values,
  };
}

const rawByChordThenId = (a: NearbyRaw, b: NearbyRaw) => a.chord - b.chord || (a.station.station_id < b.station.station_id ? -1 : a.station.station_id > b.station.station_id ? 1 : 0);

/**
 * Up to `q.limit` rows strictly after `q.after`, ordered by (price,) chord, station id,
 * each as read: the station's JSON document and its fuels (what a search page is built
 * from, convert.ts `stationJsonToProto`).
 */
export async function nearbyRaw(db: Pool, q: NearbyQuery): Promise<NearbyRaw[]> {
  if (q.sort === "PRICE") {
    const { text, values } = nearbySql(q);
    return await many<NearbyRaw>(db, text, values);
  }
  // One extra row shows whether the page ends inside a group of equally distant
  // stations (same coordinates); the KNN scan returns such a group in no set order, so
  // the whole group is then read and ordered by id.
  const { text, values } = nearbySql({ ...q, limit: q.limit + 1 });
  const rows = (await many<NearbyRaw>(db, text, values)).sort(rawByChordThenId);
  if (rows.length > q.limit && rows[q.limit]!.chord === rows[q.limit - 1]!.chord) {
    const edge = rows[q.limit]!.chord;
    const tied = nearbySql({ ...q, exactChord: edge, limit: 100_000 });
    const group = (await many<NearbyRaw>(db, tied.text, tied.values)).sort(rawByChordThenId);
    return [...rows.filter((r) => r.chord < edge), ...group].slice(0, q.limit);
  }
  return rows.slice(0, q.limit);
}

/** Ids of ACTIVE stations within the radius, nearest first, at most `limit`. */
export async function stationIdsInArea(db: Pool, center: LatLng, radiusM: number, limit: number): Promise<string[]> {
  const rows = await nearbyRaw(db, { center, radiusM, fuelType: null, sort: "DISTANCE", after: null, limit });
  return rows.map((r) => r.station.station_id);
}
