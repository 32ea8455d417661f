// StationService end to end through the gateway, as its clients call it: merchant admins
// and drivers over Connect JSON, station POS terminals over grpc-js. Real PostgreSQL
// (or the embedded defaults when DATABASE_URL is unset).
import { randomUUID } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import pg from "pg";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { FuelType, Role } from "../gen/fuel/common/v1/common_pb.js";
import { KycService } from "../gen/fuel/kyc/v1/kyc_pb.js";
import {
  NearbySort,
  StationService,
  StationStatus,
  Weekday,
  type Station,
} from "../gen/fuel/station/v1/station_pb.js";
import { BadRequestSchema, ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { CreateStationRequestSchema } from "../gen/fuel/station/v1/station_pb.js";
import { haversineMetres } from "../services/station/geo.js";
import { nearbySql } from "../services/station/store.js";
import { connectJson, GrpcJsClient } from "./helpers/clients.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";

const test = suite("station");
let sys: TestSystem;
let db: pg.Client;
let adminToken: string;
let driver: Client<typeof StationService>;
let merchantA: string;
let merchantB: string;
let adminA: Client<typeof StationService>;
let adminB: Client<typeof StationService>;
let adminATok: string;

const key = () => ({ headers: { "idempotency-key": randomUUID() } });

// Lagos, and points around it.
const LAGOS = { latitude: 6.5244, longitude: 3.3792 };

/** A point `metres` from `from` along `bearingDeg` on the mean sphere (destination formula). */
function offset(from: { latitude: number; longitude: number }, metres: number, bearingDeg: number) {
  const R = 6_371_008.8;
  const d = metres / R;
  const b = (bearingDeg * Math.PI) / 180;
  const lat1 = (from.latitude * Math.PI) / 180;
  const lng1 = (from.longitude * Math.PI) / 180;
  const lat2 = Math.asin(Math.sin(lat1) * Math.cos(d) + Math.cos(lat1) * Math.sin(d) * Math.cos(b));
  const lng2 = lng1 + Math.atan2(Math.sin(b) * Math.sin(d) * Math.cos(lat1), Math.cos(d) - Math.sin(lat1) * Math.sin(lat2));
  return { latitude: (lat2 * 180) / Math.PI, longitude: (lng2 * 180) / Math.PI };
}

type CreateInit = MessageInitShape<typeof CreateStationRequestSchema>;

function stationInput(over: Record<string, unknown> = {}): CreateInit {
  return {
    name: `Station ${randomUUID().slice(0, 8)}`,
    address: { line1: "1 Marina Road", city: "Lagos", countryCode: "NG" },
    location: LAGOS,
    currency: "NGN",
    openingHours: { timeZone: "Africa/Lagos", alwaysOpen: true },
    pumps: [
      { label: "1", fuelTypes: [FuelType.PETROL, FuelType.DIESEL] },
      { label: "2", fuelTypes: [FuelType.PETROL] },
    ],
    ...over,
  } as CreateInit;
}

async function createMerchant(name: string): Promise<string> {
  const kyc = connectJson(KycService, sys.gatewayUrl, adminToken);
  const res = await kyc.createMerchant({ name, registrationNumber: `RC-${randomUUID().slice(0, 8)}`, contactEmail: "ops@example.com" }, key());
  return res.merchant!.merchantId;
}

async function rejects(p: Promise<unknown>, code: Code, field?: string, reason?: string): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    const ce = ConnectError.from(err);
    assert.is(Code[ce.code], Code[code], ce.message);
    if (field !== undefined) {
      const fields = ce.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations.map((f) => f.field));
      assert.equal(fields, [field], ce.message);
    }
    if (reason !== undefined) assert.is(ce.findDetails(ErrorInfoSchema)[0]?.reason, reason);
    return ce;
  }
  assert.unreachable(`expected ${Code[code]}`);
  throw new Error("unreachable");
}

async function newStation(client: Client<typeof StationService>, over: Record<string, unknown> = {}): Promise<Station> {
  const res = await client.createStation(stationInput(over), key());
  return res.station!;
}

test.before(async () => {
  sys = await startTestSystem();
  db = new pg.Client({ connectionString: sys.databaseUrl });
  await db.connect();
  adminToken = await mintAccessToken(sys, principal(Role.SYSTEM_ADMIN));
  merchantA = await createMerchant("Alpha Fuels");
  merchantB = await createMerchant("Bravo Petroleum");
  adminATok = await mintAccessToken(sys, principal(Role.MERCHANT_ADMIN, { merchantId: merchantA }));
  adminA = connectJson(StationService, sys.gatewayUrl, adminATok);
  adminB = connectJson(StationService, sys.gatewayUrl, await mintAccessToken(sys, principal(Role.MERCHANT_ADMIN, { merchantId: merchantB })));
  driver = connectJson(StationService, sys.gatewayUrl, await mintAccessToken(sys, principal(Role.DRIVER, { driverId: randomUUID() })));
});

test.after(async () => {
  await db?.end();
  await sys?.stop();
});

test("a merchant admin creates a station for their merchant; anyone signed in reads it", async () => {
  const s = await newStation(adminA, { name: "  Marina Fuel  " });
  assert.is(s.merchantId, merchantA);
  assert.is(s.name, "Marina Fuel");
  assert.is(s.status, StationStatus.ACTIVE);
  assert.is(s.version, 1n);
  assert.is(s.pumps.length, 2);
  assert.ok(s.pumps.every((p) => /^[0-9a-f-]{36}$/.test(p.pumpId)));
  const read = await driver.getStation({ stationId: s.stationId });
  assert.is(read.station!.name, "Marina Fuel");
  assert.is(read.station!.openingHours!.timeZone, "Africa/Lagos");
  const listed = await driver.listStations({ merchantId: merchantA });
  assert.ok(listed.stations.some((x) => x.stationId === s.stationId));
  await rejects(driver.getStation({ stationId: randomUUID() }), Code.NotFound);
});

test("a system admin creates for any existing merchant; an unknown merchant is NOT_FOUND", async () => {
  const admin = connectJson(StationService, sys.gatewayUrl, adminToken);
  const s = await newStation(admin, { merchantId: merchantB });
  assert.is(s.merchantId, merchantB);
  await rejects(admin.createStation(stationInput({ merchantId: randomUUID() }), key()), Code.NotFound);
  await rejects(admin.createStation(stationInput({ merchantId: "" }), key()), Code.InvalidArgument, "merchant_id");
});

test("ownership: merchant B cannot touch merchant A's station, its prices, or create for A", async () => {
  const s = await newStation(adminA);
  await rejects(
    adminB.updateStation({ stationId: s.stationId, expectedVersion: 1n, station: { name: "Hijacked" }, updateMask: { paths: ["name"] } }, key()),
    Code.NotFound,
  );
  await rejects(
    adminB.updateFuelAvailability({ stationId: s.stationId, updates: [{ fuelType: FuelType.PETROL, inStock: true, priceMinorPerLitre: 1n, currency: "NGN" }] }, key()),
    Code.NotFound,
  );
  await rejects(adminB.createStation(stationInput({ merchantId: merchantA }), key()), Code.PermissionDenied, undefined, "NOT_OWN_MERCHANT");
  // A POS terminal of another station, over grpc-js as terminals call.
  const other = await newStation(adminB);
  const pos = new GrpcJsClient(StationService, sys.gatewayUrl, await mintAccessToken(sys, principal(Role.POS_TERMINAL, { stationId: other.stationId, merchantId: merchantB })));
  try {
    await pos.unary(StationService.method.updateFuelAvailability, { stationId: s.stationId, updates: [{ fuelType: FuelType.PETROL, inStock: true, priceMinorPerLitre: 1n, currency: "NGN" }] }, { "idempotency-key": randomUUID() });
    assert.unreachable("a terminal wrote another station");
  } catch (err) {
    assert.is((err as { code: number }).code, 5); // NOT_FOUND
  } finally {
    pos.close();
  }
  // A driver is refused by policy.
  await rejects(driver.createStation(stationInput(), key()), Code.PermissionDenied);
  // Nothing changed.
  const after = await driver.getStation({ stationId: s.stationId });
  assert.is(after.station!.name, s.name);
  assert.is(after.station!.version, 1n);
  assert.is((await driver.getAvailability({ stationId: s.stationId })).availability!.fuels.length, 0);
  const hist = await db.query(`SELECT count(*)::int AS n FROM station.price_history WHERE station_id = $1`, [s.stationId]);
  assert.is(hist.rows[0].n, 0);
});

test("validation names the field", async () => {
  await rejects(adminA.createStation(stationInput({ location: { latitude: 91, longitude: 3 } }), key()), Code.InvalidArgument, "location.latitude");
  await rejects(adminA.createStation(stationInput({ location: { latitude: 6, longitude: -180.5 } }), key()), Code.InvalidArgument, "location.longitude");
  await rejects(adminA.createStation(stationInput({ location: undefined }), key()), Code.InvalidArgument, "location");
  await rejects(adminA.createStation(stationInput({ openingHours: { timeZone: "Mars/Olympus_Mons" } }), key()), Code.InvalidArgument, "opening_hours.time_zone");
  await rejects(adminA.createStation(stationInput({ openingHours: { timeZone: "Africa/Lagos", periods: [{ weekday: Weekday.MONDAY, openMinute: 1440, closeMinute: 60 }] } }), key()), Code.InvalidArgument, "opening_hours.periods[0].open_minute");
  await rejects(adminA.createStation(stationInput({ openingHours: { timeZone: "Africa/Lagos", alwaysOpen: true, periods: [{ weekday: Weekday.MONDAY, openMinute: 0, closeMinute: 60 }] } }), key()), Code.InvalidArgument, "opening_hours.periods");
  await rejects(adminA.createStation(stationInput({ pumps: [{ label: "1", fuelTypes: [FuelType.PETROL] }, { label: "1", fuelTypes: [FuelType.DIESEL] }] }), key()), Code.InvalidArgument, "pumps[1].label");
  await rejects(adminA.createStation(stationInput({ pumps: [{ label: "1", fuelTypes: [99 as FuelType] }] }), key()), Code.InvalidArgument, "pumps[0].fuel_types[0]");
  await rejects(adminA.createStation(stationInput({ pumps: [{ label: "1", fuelTypes: [] }] }), key()), Code.InvalidArgument, "pumps[0].fuel_types");
  await rejects(adminA.createStation(stationInput({ pumps: [] }), key()), Code.InvalidArgument, "pumps");
  await rejects(adminA.createStation(stationInput({ currency: "naira" }), key()), Code.InvalidArgument, "currency");
  await rejects(adminA.createStation(stationInput({ name: "" }), key()), Code.InvalidArgument, "name");

  await rejects(driver.searchNearby({ location: { latitude: 91, longitude: 3 }, radiusM: 1000 }), Code.InvalidArgument, "location.latitude");
  await rejects(driver.searchNearby({ location: LAGOS, radiusM: 0 }), Code.InvalidArgument, "radius_m");
  await rejects(driver.searchNearby({ location: LAGOS, radiusM: 50_001 }), Code.InvalidArgument, "radius_m");
  await rejects(driver.searchNearby({ location: LAGOS, radiusM: 1000, fuelType: 42 as FuelType }), Code.InvalidArgument, "fuel_type");
  await rejects(driver.searchNearby({ location: LAGOS, radiusM: 1000, sort: NearbySort.PRICE }), Code.InvalidArgument, "fuel_type");
  await rejects(driver.searchNearby({ location: LAGOS, radiusM: 1000, pageSize: -1 }), Code.InvalidArgument, "page_size");
  await rejects(driver.searchNearby({ location: LAGOS, radiusM: 1000, pageToken: "garbage" }), Code.InvalidArgument, "page_token");

  const s = await newStation(adminA);
  const upd = (u: Record<string, unknown>) =>
    adminA.updateFuelAvailability({ stationId: s.stationId, updates: [{ fuelType: FuelType.PETROL, inStock: true, priceMinorPerLitre: 61_700n, currency: "NGN", ...u }] }, key());
  await rejects(upd({ priceMinorPerLitre: -5n }), Code.InvalidArgument, "updates[0].price_minor_per_litre");
  await rejects(upd({ priceMinorPerLitre: 0n }), Code.InvalidArgument, "updates[0].price_minor_per_litre");
  await rejects(upd({ fuelType: 77 }), Code.InvalidArgument, "updates[0].fuel_type");
  await rejects(upd({ levelMl: -1n }), Code.InvalidArgument, "updates[0].level_ml");
  await rejects(upd({ currency: "USD" }), Code.InvalidArgument, "updates[0].currency");
  await rejects(upd({ fuelType: FuelType.LPG }), Code.FailedPrecondition, undefined, "FUEL_TYPE_NOT_OFFERED");
  await rejects(adminA.updateFuelAvailability({ stationId: s.stationId, updates: [] }, key()), Code.InvalidArgument, "updates");

  await rejects(
    adminA.updateStation({ stationId: s.stationId, expectedVersion: 1n, station: {}, updateMask: { paths: ["merchant_id"] } }, key()),
    Code.InvalidArgument,
    "update_mask",
  );
  await rejects(
    adminA.updateStation({ stationId: s.stationId, expectedVersion: 1n, station: { location: { latitude: 0, longitude: 181 } }, updateMask: { paths: ["location"] } }, key()),
    Code.InvalidArgument,
    "station.location.longitude",
  );
});

test("UpdateStation: field mask, pumps kept by id, version guard, permanent closure", async () => {
  const s = await newStation(adminA);
  const keep = s.pumps[0]!;
  const res = await adminA.updateStation(
    {
      stationId: s.stationId,
      expectedVersion: 1n,
      station: { name: "Renamed", currency: "USD", pumps: [{ pumpId: keep.pumpId, label: "1A", fuelTypes: [FuelType.DIESEL] }, { label: "9", fuelTypes: [FuelType.LPG] }] },
      updateMask: { paths: ["name", "pumps"] },
    },
    key(),
  );
  const u = res.station!;
  assert.is(u.name, "Renamed");
  assert.is(u.currency, "NGN", "currency is fixed at creation");
  assert.is(u.version, 2n);
  assert.is(u.pumps.length, 2);
  assert.is(u.pumps[0]!.pumpId, keep.pumpId);
  assert.is(u.pumps[0]!.label, "1A");
  assert.ok(u.pumps[1]!.pumpId !== "" && u.pumps[1]!.pumpId !== s.pumps[1]!.pumpId);
  // PETROL is no longer offered.
  await rejects(
    adminA.updateFuelAvailability({ stationId: s.stationId, updates: [{ fuelType: FuelType.PETROL, inStock: true, priceMinorPerLitre: 1n, currency: "NGN" }] }, key()),
    Code.FailedPrecondition,
    undefined,
    "FUEL_TYPE_NOT_OFFERED",
  );
  await rejects(
    adminA.updateStation({ stationId: s.stationId, expectedVersion: 1n, station: { name: "Stale" }, updateMask: { paths: ["name"] } }, key()),
    Code.Aborted,
    undefined,
    "VERSION_MISMATCH",
  );
  await rejects(
    adminA.updateStation({ stationId: s.stationId, expectedVersion: 2n, station: { pumps: [{ pumpId: randomUUID(), label: "x", fuelTypes: [FuelType.DIESEL] }] }, updateMask: { paths: ["pumps"] } }, key()),
    Code.InvalidArgument,
    "station.pumps[0].pump_id",
  );
  const closed = await adminA.updateStation(
    { stationId: s.stationId, expectedVersion: 2n, station: { status: StationStatus.PERMANENTLY_CLOSED }, updateMask: { paths: ["status"] } },
    key(),
  );
  assert.is(closed.station!.status, StationStatus.PERMANENTLY_CLOSED);
  await rejects(
    adminA.updateStation({ stationId: s.stationId, expectedVersion: 3n, station: { name: "Back" }, updateMask: { paths: ["name"] } }, key()),
    Code.FailedPrecondition,
    undefined,
    "STATION_PERMANENTLY_CLOSED",
  );
});

test("price history: every change with who and when, newest first, paginated and filtered", async () => {
  const s = await newStation(adminA);
  const posPrincipal = principal(Role.POS_TERMINAL, { stationId: s.stationId, merchantId: merchantA });
  const pos = new GrpcJsClient(StationService, sys.gatewayUrl, await mintAccessToken(sys, posPrincipal));
  const set = async (by: "admin" | "pos", fuelType: FuelType, price: bigint, inStock = true) => {
    const req = { stationId: s.stationId, updates: [{ fuelType, inStock, priceMinorPerLitre: price, currency: "NGN" }] };
    if (by === "admin") await adminA.updateFuelAvailability(req, key());
    else await pos.unary(StationService.method.updateFuelAvailability, req, { "idempotency-key": randomUUID() });
    sys.clock.advance(1_000);
  };
  try {
    await set("admin", FuelType.PETROL, 61_700n);
    await set("admin", FuelType.DIESEL, 95_000n);
    await set("pos", FuelType.PETROL, 62_500n);
    await set("pos", FuelType.PETROL, 62_500n, false); // stock change, same price
    await set("pos", FuelType.PETROL, 62_500n, false); // nothing changed: a confirmation, not history
  } finally {
    pos.close();
  }
  const all = await driver.getPriceHistory({ stationId: s.stationId });
  assert.is(all.entries.length, 4);
  assert.equal(all.entries.map((e) => [FuelType[e.fuelType], e.priceMinorPerLitre, e.previousPriceMinorPerLitre, e.inStock]), [
    ["PETROL", 62_500n, 62_500n, false],
    ["PETROL", 62_500n, 61_700n, true],
    ["DIESEL", 95_000n, 0n, true],
    ["PETROL", 61_700n, 0n, true],
  ]);
  assert.is(all.entries[0]!.changedBy, posPrincipal.subjectId);
  assert.is(all.entries[0]!.changedByRole, Role.POS_TERMINAL);
  assert.is(all.entries[3]!.changedByRole, Role.MERCHANT_ADMIN);
  const times = all.entries.map((e) => timestampDate(e.changeTime!).getTime());
  assert.ok(times[0]! > times[1]! && times[1]! > times[2]! && times[2]! > times[3]!);

  const p1 = await driver.getPriceHistory({ stationId: s.stationId, pageSize: 3 });
  assert.is(p1.entries.length, 3);
  assert.ok(p1.nextPageToken !== "");
  const p2 = await driver.getPriceHistory({ stationId: s.stationId, pageSize: 3, pageToken: p1.nextPageToken });
  assert.is(p2.entries.length, 1);
  assert.is(p2.nextPageToken, "");
  assert.equal([...p1.entries, ...p2.entries], all.entries);

  const petrol = await driver.getPriceHistory({ stationId: s.stationId, fuelType: FuelType.PETROL });
  assert.is(petrol.entries.length, 3);
  const windowed = await driver.getPriceHistory({ stationId: s.stationId, startTime: all.entries[2]!.changeTime, endTime: all.entries[0]!.changeTime });
  assert.equal(windowed.entries.map((e) => e.priceMinorPerLitre), [62_500n, 95_000n]);
  await rejects(driver.getPriceHistory({ stationId: s.stationId, startTime: all.entries[0]!.changeTime, endTime: all.entries[3]!.changeTime }), Code.InvalidArgument, "start_time");
  await rejects(driver.getPriceHistory({ stationId: randomUUID() }), Code.NotFound);
});

test("freshness: each fuel type carries its own last-update and last-price-change time", async () => {
  const s = await newStation(adminA);
  const t0 = sys.clock.now().getTime();
  await adminA.updateFuelAvailability({ stationId: s.stationId, updates: [{ fuelType: FuelType.PETROL, inStock: true, priceMinorPerLitre: 61_700n, currency: "NGN", levelMl: 5_000_000n }] }, key());
  sys.clock.advance(3_600_000);
  await adminA.updateFuelAvailability({ stationId: s.stationId, updates: [{ fuelType: FuelType.DIESEL, inStock: true, priceMinorPerLitre: 95_000n, currency: "NGN" }] }, key());
  sys.clock.advance(60_000);
  // PETROL re-confirmed unchanged: its update time moves, its price time does not.
  await adminA.updateFuelAvailability({ stationId: s.stationId, updates: [{ fuelType: FuelType.PETROL, inStock: true, priceMinorPerLitre: 61_700n, currency: "NGN", levelMl: 5_000_000n }] }, key());
  sys.clock.advance(120_000);
  const a = (await driver.getAvailability({ stationId: s.stationId })).availability!;
  const [petrol, diesel] = a.fuels;
  assert.is(a.fuels.length, 2);
  assert.is(petrol!.fuelType, FuelType.PETROL);
  assert.is(diesel!.fuelType, FuelType.DIESEL);
  const ms = (t: typeof a.asOfTime) => timestampDate(t!).getTime();
  assert.ok(Math.abs(ms(petrol!.priceUpdateTime) - t0) < 1_000, "price time stays at the price change");
  assert.ok(Math.abs(ms(petrol!.updateTime) - (t0 + 3_660_000)) < 1_000, "update time moves on confirmation");
  assert.ok(Math.abs(ms(diesel!.updateTime) - (t0 + 3_600_000)) < 1_000);
  assert.ok(Math.abs(ms(a.asOfTime) - (t0 + 3_780_000)) < 1_000, "as_of_time is now");
  assert.is(petrol!.levelMl, 5_000_000n);
  assert.is(diesel!.levelMl, undefined, "unknown level stays absent");
  assert.is(a.openNow, true);
  // GetStation gives the same availability in one call when asked, and none otherwise.
  const both = await driver.getStation({ stationId: s.stationId, includeAvailability: true });
  assert.is(both.station!.stationId, s.stationId);
  assert.equal(both.availability!.fuels.map((f) => [f.fuelType, f.priceMinorPerLitre]), a.fuels.map((f) => [f.fuelType, f.priceMinorPerLitre]));
  assert.is((await driver.getStation({ stationId: s.stationId })).availability, undefined);
});

test("station.geo_point and geo_box are earthdistance's ll_to_earth and earth_box, search_path-proof", async () => {
  await db.query("BEGIN");
  try {
    // earthdistance's own functions need `public` on the search_path; ours do not.
    await db.query("SET LOCAL search_path = public");
    const { rows } = await db.query(
      `SELECT bool_and(station.geo_point(lat, lng) OPERATOR(public.=) public.ll_to_earth(lat, lng)::public.cube) AS point,
              bool_and(station.geo_box(station.geo_point(lat, lng), r) OPERATOR(public.=) public.earth_box(public.ll_to_earth(lat, lng), r)) AS box
       FROM (VALUES (6.5244, 3.3792, 1000.0), (-33.9, 18.4, 50000.0), (89.9, -179.9, 5.0), (0.0, 0.0, 123.4)) AS v(lat, lng, r)`,
    );
    assert.equal(rows[0], { point: true, box: true });
    await db.query("SET LOCAL search_path = pg_catalog");
    const own = await db.query(`SELECT station.geo_point(6.5, 3.4) OPERATOR(public.<->) station.geo_point(6.5, 3.41) AS chord`);
    assert.ok(Math.abs(own.rows[0].chord - 1106.3) < 1, String(own.rows[0].chord));
  } finally {
    await db.query("ROLLBACK");
  }
});

test("the nearby query runs on the GiST index", async () => {
  // Enough rows that a sequential scan is not the cheap choice, spread over ~500 km.
  await db.query(
    `INSERT INTO station.stations (station_id, merchant_id, name, address, latitude, longitude, currency, time_zone,
       always_open, pumps, fuel_types, status, created_by, create_time, update_time)
     SELECT gen_random_uuid(), $1, 'Plan ' || i, '{"line1":"x","line2":"","city":"x","region":"","postal_code":"","country_code":"NG"}',
       -20 + (i % 100) * 0.05, 20 + (i / 100) * 0.05, 'NGN', 'Africa/Lagos', true,
       '[{"pump_id":"00000000-0000-4000-8000-000000000000","label":"1","fuel_types":["PETROL"]}]', ARRAY['PETROL'], 'ACTIVE', 'test', now(), now()
     FROM generate_series(0, 4999) i`,
    [merchantA],
  );
  await db.query(
    `INSERT INTO station.fuel_availability (station_id, fuel_type, in_stock, price_minor_per_litre, currency, update_time,
       price_update_time, updated_by, updated_by_role)
     SELECT station_id, 'PETROL', true, 60000 + (abs(hashtext(name)) % 5000), 'NGN', now(), now(), 'test', 'MERCHANT_ADMIN'
     FROM station.stations WHERE name LIKE 'Plan %'`,
  );
  await db.query(`ANALYZE station.stations`);
  await db.query(`ANALYZE station.fuel_availability`);
  for (const sort of ["DISTANCE", "PRICE"] as const) {
    const q = nearbySql({ center: { latitude: -18, longitude: 22 }, radiusM: 20_000, fuelType: sort === "PRICE" ? "PETROL" : null, sort, after: null, limit: 51 });
    const plan = (await db.query(`EXPLAIN ${q.text}`, q.values)).rows.map((r) => r["QUERY PLAN"] as string).join("\n");
    assert.match(plan, /stations_geo/, plan);
    assert.not.match(plan, /Seq Scan on stations/, plan);
  }
  // The same index serves the distance order as a nearest-neighbour scan (KNN on the cube
  // distance). The planner takes it by itself when the page is small against the rows it
  // expects in the box (the bench's 100,000 stations); on this small table, nudge it.
  await db.query("BEGIN");
  try {
    await db.query("SET LOCAL enable_bitmapscan = off");
    const q = nearbySql({ center: { latitude: -18, longitude: 22 }, radiusM: 20_000, fuelType: null, sort: "DISTANCE", after: null, limit: 11 });
    const plan = (await db.query(`EXPLAIN ${q.text}`, q.values)).rows.map((r) => r["QUERY PLAN"] as string).join("\n");
    assert.match(plan, /Index Scan using stations_geo/, plan);
    assert.match(plan, /Order By: \(geo (OPERATOR\(public\.)?<->/, plan);
  } finally {
    await db.query("ROLLBACK");
  }
  const res = await driver.searchNearby({ location: { latitude: -18, longitude: 22 }, radiusM: 20_000, pageSize: 200 });
  assert.ok(res.results.length > 20, `found ${res.results.length}`);
});

test("distances agree with haversine within 0.5%, nearest first, only within the radius", async () => {
  const center = { latitude: 59.9139, longitude: 10.7522 }; // Oslo: far from the equator
  const placed: Array<{ id: string; metres: number }> = [];
  for (const [metres, bearing] of [[150, 10], [1_200, 95], [7_500, 200], [18_000, 300], [34_000, 45], [49_000, 135], [52_000, 270]] as const) {
    const loc = offset(center, metres, bearing);
    const s = await newStation(adminA, { location: loc, openingHours: { timeZone: "Europe/Oslo", alwaysOpen: true }, currency: "NOK" });
    placed.push({ id: s.stationId, metres: haversineMetres(center, loc) });
  }
  const res = await driver.searchNearby({ location: center, radiusM: 50_000, pageSize: 50 });
  const ids = res.results.map((r) => r.station!.stationId);
  assert.equal(ids, placed.slice(0, 6).map((p) => p.id), "sorted by distance; the one at 52 km is outside");
  for (const r of res.results) {
    const ref = placed.find((p) => p.id === r.station!.stationId)!.metres;
    assert.ok(Math.abs(r.distanceM - ref) <= Math.max(1, ref * 0.005), `${r.distanceM} vs haversine ${ref}`);
    assert.is(r.availability!.stationId, r.station!.stationId);
  }
});

test("search results and GetStation with availability carry exactly what the typed reads say", async () => {
  // Search and GetStation-with-availability read a station and its fuels as one JSON
  // document (one round trip); the other reads use typed columns. The two paths must not
  // drift apart, timestamps included.
  const center = offset(LAGOS, 900_000, 10); // a spot no other test uses
  const s = await newStation(adminA, {
    location: center,
    openingHours: { timeZone: "Africa/Lagos", periods: [{ weekday: Weekday.MONDAY, openMinute: 360, closeMinute: 1320 }] },
  });
  await adminA.updateFuelAvailability({ stationId: s.stationId, updates: [
    { fuelType: FuelType.DIESEL, inStock: false, priceMinorPerLitre: 95_123n, currency: "NGN" },
    { fuelType: FuelType.PETROL, inStock: true, priceMinorPerLitre: 61_789n, currency: "NGN", levelMl: 999_999_999_999n },
  ] }, key());
  const found = (await driver.searchNearby({ location: center, radiusM: 1_000, pageSize: 5 })).results;
  assert.is(found.length, 1);
  // Typed reads: GetStation without availability, GetAvailability.
  const typed = (await driver.getStation({ stationId: s.stationId })).station!;
  const { asOfTime: _t, ...typedAvailability } = (await driver.getAvailability({ stationId: s.stationId })).availability!;
  // JSON reads: a search result, and GetStation with availability (what authorization asks).
  const both = await driver.getStation({ stationId: s.stationId, includeAvailability: true });
  for (const [station, availability] of [[found[0]!.station!, found[0]!.availability!], [both.station!, both.availability!]] as const) {
    assert.equal(station, typed);
    const { asOfTime: _a, ...rest } = availability;
    assert.equal(rest, typedAvailability);
  }
  assert.is(found[0]!.availability!.fuels[0]!.levelMl, 999_999_999_999n);
});

test("the stored search documents follow every write: the service's, a hand-run fix, and two at once", async () => {
  const center = offset(LAGOS, 950_000, 20); // a spot no other test uses
  const s = await newStation(adminA, { location: center });
  await adminA.updateFuelAvailability({ stationId: s.stationId, updates: [
    { fuelType: FuelType.PETROL, inStock: true, priceMinorPerLitre: 60_000n, currency: "NGN" },
    { fuelType: FuelType.DIESEL, inStock: true, priceMinorPerLitre: 90_000n, currency: "NGN" },
  ] }, key());
  await adminA.updateStation({ stationId: s.stationId, expectedVersion: 1n, station: { name: "Renamed for search" }, updateMask: { paths: ["name"] } }, key());
  const search = async () => (await driver.searchNearby({ location: center, radiusM: 1_000, pageSize: 5 })).results[0]!;
  const prices = async () => Object.fromEntries((await search()).availability!.fuels.map((f) => [FuelType[f.fuelType], f.priceMinorPerLitre]));
  const found = await search();
  assert.is(found.station!.name, "Renamed for search");
  assert.is(found.station!.version, 2n);
  assert.equal(await prices(), { PETROL: 60_000n, DIESEL: 90_000n });

  // A hand-run fix in SQL, outside the service: the documents still follow.
  await db.query(`UPDATE station.fuel_availability SET price_minor_per_litre = 61000 WHERE station_id = $1 AND fuel_type = 'PETROL'`, [s.stationId]);
  assert.equal(await prices(), { PETROL: 61_000n, DIESEL: 90_000n });
  await db.query(`DELETE FROM station.fuel_availability WHERE station_id = $1 AND fuel_type = 'DIESEL'`, [s.stationId]);
  assert.equal(await prices(), { PETROL: 61_000n });

  // Two writers of different fuel types of one station, neither holding the station lock
  // the service takes: the second waits for the first and then sees its change.
  await db.query(
    `INSERT INTO station.fuel_availability (station_id, fuel_type, in_stock, price_minor_per_litre, currency, update_time, price_update_time, updated_by, updated_by_role)
     VALUES ($1, 'DIESEL', true, 91000, 'NGN', now(), now(), 'ops', 'SYSTEM_ADMIN')`,
    [s.stationId],
  );
  const [a, b] = [new pg.Client({ connectionString: sys.databaseUrl }), new pg.Client({ connectionString: sys.databaseUrl })];
  await Promise.all([a.connect(), b.connect()]);
  try {
    await a.query("BEGIN");
    await a.query(`UPDATE station.fuel_availability SET price_minor_per_litre = 62000 WHERE station_id = $1 AND fuel_type = 'PETROL'`, [s.stationId]);
    const second = (async () => {
      await b.query("BEGIN");
      await b.query(`UPDATE station.fuel_availability SET price_minor_per_litre = 92000 WHERE station_id = $1 AND fuel_type = 'DIESEL'`, [s.stationId]);
      await b.query("COMMIT");
    })();
    // b now waits for a: for its lock on the station (or, embedded, for PGlite's one session).
    await new Promise((r) => setTimeout(r, 100));
    await a.query("COMMIT");
    await second;
  } finally {
    await Promise.all([a.end(), b.end()]);
  }
  assert.equal(await prices(), { PETROL: 62_000n, DIESEL: 92_000n });

  // And over every station this suite wrote: no stored document differs from its rows.
  const { rows } = await db.query(
    `SELECT count(*)::int AS stale FROM station.stations s
     WHERE s.doc::text IS DISTINCT FROM station.station_doc(s)::text
        OR s.fuels_doc::text IS DISTINCT FROM station.fuels_doc(s.station_id)::text`,
  );
  assert.is(rows[0].stale, 0);
});

test("pagination walks every station once, in order; a token is bound to its search", async () => {
  const center = { latitude: -33.9249, longitude: 18.4241 }; // Cape Town
  const mine = new Set<string>();
  for (let i = 0; i < 7; i++) {
    const s = await newStation(adminA, { location: offset(center, 300 + i * 700, i * 50), openingHours: { timeZone: "Africa/Johannesburg", alwaysOpen: true }, currency: "ZAR" });
    mine.add(s.stationId);
  }
  const seen: string[] = [];
  const distances: number[] = [];
  let token = "";
  let pages = 0;
  do {
    const res = await driver.searchNearby({ location: center, radiusM: 10_000, pageSize: 3, pageToken: token });
    seen.push(...res.results.map((r) => r.station!.stationId));
    distances.push(...res.results.map((r) => r.distanceM));
    token = res.nextPageToken;
    pages++;
  } while (token !== "" && pages < 10);
  assert.is(pages, 3);
  assert.equal(new Set(seen), mine);
  assert.is(seen.length, 7);
  assert.equal(distances, [...distances].sort((a, b) => a - b));
  const first = await driver.searchNearby({ location: center, radiusM: 10_000, pageSize: 3 });
  await rejects(driver.searchNearby({ location: center, radiusM: 9_000, pageSize: 3, pageToken: first.nextPageToken }), Code.InvalidArgument, "page_token");
  const listed1 = await driver.listStations({ merchantId: merchantA, pageSize: 2 });
  const listed2 = await driver.listStations({ merchantId: merchantA, pageSize: 2, pageToken: listed1.nextPageToken });
  assert.is(listed2.stations.length, 2);
  assert.ok(listed1.stations[1]!.name <= listed2.stations[0]!.name);
});

test("stations at the very same spot page by id without loss or repeats", async () => {
  const spot = { latitude: 14.6928, longitude: -17.4467 }; // Dakar
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    ids.push((await newStation(adminA, { location: spot, currency: "XOF", openingHours: { timeZone: "Africa/Dakar", alwaysOpen: true } })).stationId);
  }
  const nearer = (await newStation(adminA, { location: offset(spot, 50, 0), currency: "XOF", openingHours: { timeZone: "Africa/Dakar", alwaysOpen: true } })).stationId;
  const from = offset(spot, 400, 180); // the five tie; `nearer` is farther from here
  const seen: string[] = [];
  let token = "";
  for (let page = 0; page < 6; page++) {
    const res = await driver.searchNearby({ location: from, radiusM: 2_000, pageSize: 2, pageToken: token });
    seen.push(...res.results.map((r) => r.station!.stationId));
    token = res.nextPageToken;
    if (!token) break;
  }
  assert.equal(seen, [...[...ids].sort(), nearer]);
});

test("fuel in stock and sort by price", async () => {
  const center = { latitude: 9.0765, longitude: 7.3986 }; // Abuja
  const mk = async (metres: number) => (await newStation(adminA, { location: offset(center, metres, 90) })).stationId;
  const [near, mid, far, dry] = [await mk(500), await mk(1_500), await mk(3_000), await mk(200)];
  const price = async (id: string, p: bigint, inStock = true) =>
    adminA.updateFuelAvailability({ stationId: id, updates: [{ fuelType: FuelType.DIESEL, inStock, priceMinorPerLitre: p, currency: "NGN" }] }, key());
  await price(near, 99_000n);
  await price(mid, 90_000n);
  await price(far, 95_000n);
  await price(dry, 80_000n, false);
  const byDistance = await driver.searchNearby({ location: center, radiusM: 5_000, fuelType: FuelType.DIESEL });
  assert.equal(byDistance.results.map((r) => r.station!.stationId), [near, mid, far]);
  const byPrice = await driver.searchNearby({ location: center, radiusM: 5_000, fuelType: FuelType.DIESEL, sort: NearbySort.PRICE, pageSize: 2 });
  assert.equal(byPrice.results.map((r) => r.station!.stationId), [mid, far]);
  const rest = await driver.searchNearby({ location: center, radiusM: 5_000, fuelType: FuelType.DIESEL, sort: NearbySort.PRICE, pageSize: 2, pageToken: byPrice.nextPageToken });
  assert.equal(rest.results.map((r) => r.station!.stationId), [near]);
  assert.is(rest.nextPageToken, "");
  const all = await driver.searchNearby({ location: center, radiusM: 5_000 });
  assert.equal(all.results.map((r) => r.station!.stationId), [dry, near, mid, far]);
});

test("open now follows each station's hours in its own time zone", async () => {
  const center = { latitude: -1.2921, longitude: 36.8219 }; // Nairobi (UTC+3)
  const weekdays = [Weekday.MONDAY, Weekday.TUESDAY, Weekday.WEDNESDAY, Weekday.THURSDAY, Weekday.FRIDAY];
  const office = await newStation(adminA, {
    location: offset(center, 100, 0),
    currency: "KES",
    openingHours: { timeZone: "Africa/Nairobi", periods: weekdays.map((weekday) => ({ weekday, openMinute: 8 * 60, closeMinute: 18 * 60 })) },
  });
  const night = await newStation(adminA, {
    location: offset(center, 200, 0),
    currency: "KES",
    openingHours: { timeZone: "Africa/Nairobi", periods: [{ weekday: Weekday.FRIDAY, openMinute: 22 * 60, closeMinute: 6 * 60 }] },
  });
  const always = await newStation(adminA, { location: offset(center, 300, 0), currency: "KES" });
  const saved = sys.clock.offsetMs;
  const at = (iso: string) => (sys.clock.offsetMs = Date.parse(iso) - Date.now());
  const open = async () =>
    (await driver.searchNearby({ location: center, radiusM: 1_000, openNow: true })).results.map((r) => r.station!.stationId);
  try {
    at("2025-06-06T09:00:00Z"); // Friday 12:00 in Nairobi
    assert.equal(await open(), [office.stationId, always.stationId]);
    at("2025-06-06T20:30:00Z"); // Friday 23:30
    assert.equal(await open(), [night.stationId, always.stationId]);
    at("2025-06-07T02:59:00Z"); // Saturday 05:59: Friday's night period runs on
    assert.equal(await open(), [night.stationId, always.stationId]);
    at("2025-06-07T03:00:00Z"); // Saturday 06:00: closed
    assert.equal(await open(), [always.stationId]);
    const a = await driver.getAvailability({ stationId: office.stationId });
    assert.is(a.availability!.openNow, false);
  } finally {
    sys.clock.offsetMs = saved;
  }
});

test.run();
