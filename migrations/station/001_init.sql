-- Up Migration
-- StationService schema: stations (location, opening hours, pumps), the current fuel
-- availability and price per (station, fuel type), and the append-only price history.
--
-- Spatial search uses PostgreSQL's cube + earthdistance: a station's position is a point
-- on a sphere in 3-D space (`ll_to_earth`), indexed with GiST; `earth_box(...) @> point`
-- bounds the search and the cube `<->` (Euclidean, i.e. chord) distance gives a
-- nearest-neighbour index scan, chord order being great-circle order.
--
-- The extensions live in `public`. earthdistance's own SQL functions resolve `cube(...)`
-- and `earth()` through the caller's search_path at run time, which this project never
-- relies on (the embedded PGlite shares one session, and one search_path, between all
-- services). So the station schema carries the same two formulas with every name
-- qualified: `station.geo_point` is `ll_to_earth` and `station.geo_box` is `earth_box`
-- (test/station.test.ts checks they agree). Both are inlinable SQL, so the planner
-- folds them into constants and the index matches.

CREATE EXTENSION IF NOT EXISTS cube WITH SCHEMA public;
CREATE EXTENSION IF NOT EXISTS earthdistance WITH SCHEMA public;

-- A position on the earthdistance sphere (radius public.earth() = 6378168 m): ll_to_earth.
CREATE FUNCTION station.geo_point(lat float8, lng float8) RETURNS public.cube
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT public.cube(public.cube(public.cube(
          public.earth() * pg_catalog.cos(pg_catalog.radians(lat)) * pg_catalog.cos(pg_catalog.radians(lng))),
          public.earth() * pg_catalog.cos(pg_catalog.radians(lat)) * pg_catalog.sin(pg_catalog.radians(lng))),
          public.earth() * pg_catalog.sin(pg_catalog.radians(lat))) $$;

-- A cube containing every point within `radius` metres (great circle on the earthdistance
-- sphere) of `center`: earth_box, i.e. cube_enlarge by the chord gc_to_sec(radius).
CREATE FUNCTION station.geo_box(center public.cube, radius float8) RETURNS public.cube
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT public.cube_enlarge(center,
          2 * public.earth() * pg_catalog.sin(LEAST(GREATEST(radius, 0) / (2 * public.earth()), pg_catalog.pi() / 2)), 3) $$;

CREATE TABLE station.stations (
  station_id     uuid PRIMARY KEY,
  merchant_id    uuid NOT NULL,
  name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
  address        jsonb NOT NULL,
  latitude       float8 NOT NULL CHECK (latitude BETWEEN -90 AND 90),
  longitude      float8 NOT NULL CHECK (longitude BETWEEN -180 AND 180),
  currency       text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  time_zone      text NOT NULL,
  always_open    boolean NOT NULL,
  -- [{"weekday":1..7,"open":0..1439,"close":1..1440}]
  periods        jsonb NOT NULL DEFAULT '[]',
  -- [{"pump_id":uuid,"label":text,"fuel_types":["PETROL",...]}]
  pumps          jsonb NOT NULL,
  -- Every fuel type some pump offers (derived from pumps; checked by availability writes).
  fuel_types     text[] NOT NULL,
  status         text NOT NULL CHECK (status IN ('ACTIVE','TEMPORARILY_CLOSED','PERMANENTLY_CLOSED')),
  version        bigint NOT NULL DEFAULT 1,
  created_by     text NOT NULL,
  create_time    timestamptz NOT NULL,
  update_time    timestamptz NOT NULL,
  -- The position as a point on the earthdistance sphere, kept with the row so neither the
  -- index nor a distance ever recomputes it.
  geo            public.cube GENERATED ALWAYS AS (station.geo_point(latitude, longitude)) STORED
);
CREATE INDEX stations_merchant ON station.stations (merchant_id, name, station_id);
CREATE INDEX stations_name ON station.stations (name, station_id);
-- The spatial index: only ACTIVE stations are ever searched.
CREATE INDEX stations_geo ON station.stations USING gist (geo)
  WHERE status = 'ACTIVE';

CREATE TABLE station.fuel_availability (
  station_id             uuid NOT NULL REFERENCES station.stations(station_id),
  fuel_type              text NOT NULL CHECK (fuel_type IN ('PETROL','DIESEL','KEROSENE','LPG','CNG')),
  in_stock               boolean NOT NULL,
  level_ml               bigint CHECK (level_ml >= 0),
  price_minor_per_litre  bigint NOT NULL CHECK (price_minor_per_litre > 0),
  currency               text NOT NULL,
  update_time            timestamptz NOT NULL,
  price_update_time      timestamptz NOT NULL,
  updated_by             text NOT NULL,
  updated_by_role        text NOT NULL,
  PRIMARY KEY (station_id, fuel_type)
);
-- Cheapest-first search: in-stock prices of one fuel type.
CREATE INDEX fuel_availability_price ON station.fuel_availability (fuel_type, price_minor_per_litre) WHERE in_stock;

CREATE TABLE station.price_history (
  entry_id                        bigserial PRIMARY KEY,
  station_id                      uuid NOT NULL REFERENCES station.stations(station_id),
  fuel_type                       text NOT NULL,
  in_stock                        boolean NOT NULL,
  level_ml                        bigint,
  price_minor_per_litre           bigint NOT NULL CHECK (price_minor_per_litre > 0),
  previous_price_minor_per_litre  bigint NOT NULL CHECK (previous_price_minor_per_litre >= 0),
  currency                        text NOT NULL,
  changed_by                      text NOT NULL,
  changed_by_role                 text NOT NULL,
  change_time                     timestamptz NOT NULL
);
CREATE INDEX price_history_station ON station.price_history (station_id, change_time DESC, entry_id DESC);

-- Down Migration
DROP TABLE station.price_history;
DROP TABLE station.fuel_availability;
DROP TABLE station.stations;
DROP FUNCTION station.geo_box(public.cube, float8);
DROP FUNCTION station.geo_point(float8, float8);
