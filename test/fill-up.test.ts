// "Where can I fill up now" (StationService.FindFillUpStations) against a real system, as
// the driver's app calls it through the gateway: open now, in stock for a fuel the line
// allows, at a station the line's controls allow, fresh prices (stale ones excluded or
// flagged), in the line's currency, nearest or cheapest first, each fuel with the litres
// the driver can take at its price (none: left out); closed stations do not shorten a
// page; nothing spendable or outside the line's hours says why; a driver asks only for
// themself; and the query, first read or read on, stays on the GiST index.
import { randomUUID } from "node:crypto";
import * as assert from "uvu/assert";
import pg from "pg";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { FuelType, Role } from "../gen/fuel/common/v1/common_pb.js";
import { CreditService } from "../gen/fuel/credit/v1/credit_pb.js";
import { KycService } from "../gen/fuel/kyc/v1/kyc_pb.js";
import { NearbySort, StalePrices, StationService } from "../gen/fuel/station/v1/station_pb.js";
import { volumeFor } from "../platform/money.js";
import { fillUpAfter, fillUpSql, type FillUpAfter } from "../services/station/fill-up-sql.js";
import type { NearbyRaw } from "../services/station/store.js";
import { clientAs, creditSuite, Fixtures, ngn, tokenFor } from "./credit-fixtures.js";
import { connectJson } from "./helpers/clients.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";

const test = creditSuite("fill up now");
let sys: TestSystem;
let fx: Fixtures;
let merchantId: string;
let otherMerchantId: string;
let stations: Client<typeof StationService>;
let otherStations: Client<typeof StationService>;
const CENTER = { latitude: 6.6, longitude: 3.35 };

/** A point `metres` north of `from` (the centre unless given). */
const north = (metres: number, from = CENTER) => ({ latitude: from.latitude + metres / 111_195, longitude: from.longitude });

interface StationOpts {
  open?: boolean;
  fuels: [FuelType, bigint, boolean][];
  /** Where `metres` are counted from; the centre unless given. */
  from?: { latitude: number; longitude: number };
  currency?: string;
}

async function station(client: Client<typeof StationService>, metres: number, opts: StationOpts) {
  const pumpsFuel = opts.fuels.map(([f]) => f);
  const currency = opts.currency ?? "NGN";
  const s = (await client.createStation({
    name: `Fill ${metres} m`, address: { line1: "1 Road", city: "Lagos", countryCode: "NG" }, location: north(metres, opts.from), currency,
    openingHours: opts.open === false
      ? { timeZone: "Africa/Lagos", periods: [{ weekday: 1, openMinute: 0, closeMinute: 1 }] }
      : { timeZone: "Africa/Lagos", alwaysOpen: true },
    pumps: [{ label: "1", fuelTypes: pumpsFuel }],
  })).station!;
  await client.updateFuelAvailability({
    stationId: s.stationId,
    updates: opts.fuels.map(([fuelType, priceMinorPerLitre, inStock]) => ({ fuelType, inStock, priceMinorPerLitre, currency })),
  });
  return s.stationId;
}

async function stationDb<T>(fn: (db: pg.Client) => Promise<T>): Promise<T> {
  const db = new pg.Client({ connectionString: sys.databaseOf("station") });
  await db.connect();
  try {
    return await fn(db);
  } finally {
    await db.end();
  }
}

test.before(async () => {
  sys = await startTestSystem();
  fx = await Fixtures.create(sys);
  const kyc = clientAs(KycService, sys.cfg.urls.kyc, fx.adminToken);
  const mk = async (name: string) => (await kyc.createMerchant({ name, registrationNumber: `RC-${randomUUID().slice(0, 8)}`, contactEmail: "ops@fill.example" })).merchant!.merchantId;
  merchantId = await mk("Fill Fuels");
  otherMerchantId = await mk("Other Fuels");
  stations = clientAs(StationService, sys.cfg.urls.station, await mintAccessToken(sys, principal(Role.MERCHANT_ADMIN, { merchantId })));
  otherStations = clientAs(StationService, sys.cfg.urls.station, await mintAccessToken(sys, principal(Role.MERCHANT_ADMIN, { merchantId: otherMerchantId })));
});
test.after(async () => await sys?.stop());

test("open, in stock, allowed, fresh: nearest first, each fuel with the litres the driver can take", async () => {
  const near = await station(stations, 300, { fuels: [[FuelType.PETROL, 65_000n, true], [FuelType.DIESEL, 80_000n, true]] });
  const closed = await station(stations, 500, { open: false, fuels: [[FuelType.PETROL, 60_000n, true]] });
  const empty = await station(stations, 700, { fuels: [[FuelType.PETROL, 60_000n, false]] });
  const stale = await station(stations, 900, { fuels: [[FuelType.PETROL, 61_000n, true]] });
  const cheap = await station(otherStations, 1_100, { fuels: [[FuelType.PETROL, 59_000n, true]] });
  const far = await station(stations, 60_000, { fuels: [[FuelType.PETROL, 50_000n, true]] });
  await stationDb((db) => db.query(`UPDATE station.fuel_availability SET price_update_time = now() - interval '3 days' WHERE station_id = $1`, [stale]));

  const bank = await fx.bank(10_000_000n);
  const d = await fx.driver();
  const line = (await bank.credit.createCreditLine({ owner: { case: "driverId", value: d.driverId }, currency: "NGN", limitOverride: ngn(1_000_003n), overrideReason: "t" })).creditLine!;
  const app = connectJson(StationService, sys.gatewayUrl, d.token);

  const r = await app.findFillUpStations({ location: CENTER, radiusM: 5_000 });
  const ids = r.results.map((x) => x.station!.stationId);
  assert.equal(ids, [near, cheap], "closed, out of stock, stale and far stations are left out");
  assert.is(r.spendable!.amountMinor, 1_000_003n);
  assert.is(r.cannotBuyReason, "");
  const petrol = r.results[0]!.fuels.find((f) => f.fuelType === FuelType.PETROL)!;
  assert.is(petrol.volumeMl, volumeFor(1_000_003n, 65_000n), "litres at the station's price, rounded down");
  assert.is(petrol.volumeMl, 15_384n);
  assert.ok(r.results[0]!.distanceM >= 290 && r.results[0]!.distanceM <= 310);

  // Stale prices flagged instead of dropped; cheapest first for one fuel.
  const flagged = await app.findFillUpStations({ location: CENTER, radiusM: 5_000, stalePrices: StalePrices.FLAG, fuelType: FuelType.PETROL, sort: NearbySort.PRICE });
  assert.equal(flagged.results.map((x) => x.station!.stationId), [cheap, stale, near]);
  assert.ok(flagged.results[1]!.fuels[0]!.priceStale);
  assert.not.ok(flagged.results[0]!.fuels[0]!.priceStale);
  // A longer freshness window takes the 3-day-old price as fresh.
  const week = await app.findFillUpStations({ location: CENTER, radiusM: 5_000, maxPriceAgeSeconds: 7n * 86_400n });
  assert.ok(week.results.some((x) => x.station!.stationId === stale));
  void closed;
  void empty;
  void far;

  // The line's controls decide: diesel only, at the first merchant's stations only.
  const bankToken = await tokenFor(sys, Role.BANK_ADMIN, { bankId: line.bankId });
  const bankCredit = clientAs(CreditService, sys.cfg.urls.credit, bankToken);
  const cur = (await bankCredit.getCreditLine({ creditLineId: line.creditLineId })).creditLine!;
  await bankCredit.updateSpendingControls({ creditLineId: line.creditLineId, expectedVersion: cur.version, controls: { allowedFuelTypes: [FuelType.DIESEL], allowedMerchantIds: [merchantId] } });
  const diesel = await app.findFillUpStations({ location: CENTER, radiusM: 5_000 });
  assert.equal(diesel.results.map((x) => x.station!.stationId), [near]);
  assert.equal(diesel.results[0]!.fuels.map((f) => f.fuelType), [FuelType.DIESEL]);
  assert.is(diesel.results[0]!.fuels[0]!.volumeMl, volumeFor(1_000_003n, 80_000n));
  assert.equal((await app.findFillUpStations({ location: CENTER, radiusM: 5_000, fuelType: FuelType.PETROL })).results, [], "petrol is not allowed");
});

test("nothing to buy is an empty answer that says why; a driver asks only for themself; bad input names the field", async () => {
  const none = await fx.driver();
  const app = connectJson(StationService, sys.gatewayUrl, none.token);
  const r = await app.findFillUpStations({ location: CENTER, radiusM: 5_000 });
  assert.equal(r.results, []);
  assert.is(r.cannotBuyReason, "NO_CREDIT_LINE");

  const other = await fx.driver();
  for (const call of [
    () => app.findFillUpStations({ location: CENTER, radiusM: 5_000, driverId: other.driverId }),
  ]) {
    try {
      await call();
      assert.unreachable("another driver's search");
    } catch (err) {
      assert.is(ConnectError.from(err).code, Code.NotFound);
    }
  }
  for (const [req, field] of [
    [{ location: CENTER, radiusM: 0 }, "radius_m"],
    [{ radiusM: 100 }, "location"],
    [{ location: CENTER, radiusM: 100, maxPriceAgeSeconds: 5n }, "max_price_age_seconds"],
    [{ location: CENTER, radiusM: 100, sort: NearbySort.PRICE }, "fuel_type"],
    [{ location: CENTER, radiusM: 100, pageSize: -1 }, "page_size"],
  ] as const) {
    try {
      await app.findFillUpStations(req);
      assert.unreachable(field);
    } catch (err) {
      const ce = ConnectError.from(err);
      assert.is(ce.code, Code.InvalidArgument, `${field}: ${ce.message}`);
      assert.match(ce.message, field);
    }
  }
  // A system admin names the driver; without one the request is incomplete.
  const admin = connectJson(StationService, sys.gatewayUrl, fx.adminToken);
  assert.is((await admin.findFillUpStations({ location: CENTER, radiusM: 5_000, driverId: none.driverId })).cannotBuyReason, "NO_CREDIT_LINE");
  try {
    await admin.findFillUpStations({ location: CENTER, radiusM: 5_000 });
    assert.unreachable("no driver");
  } catch (err) {
    assert.is(ConnectError.from(err).code, Code.InvalidArgument);
  }
});

/** A driver with an open line of `limitMinor`, and their app through the gateway. */
async function driverWithLine(limitMinor: bigint) {
  const bank = await fx.bank(10_000_000n);
  const d = await fx.driver();
  const line = (await bank.credit.createCreditLine({ owner: { case: "driverId", value: d.driverId }, currency: "NGN", limitOverride: ngn(limitMinor), overrideReason: "t" })).creditLine!;
  return { bank, line, app: connectJson(StationService, sys.gatewayUrl, d.token) };
}

test("closed stations do not shorten the page: it reads on, through a tie of equally distant stations", async () => {
  const from = { latitude: 7.5, longitude: 4.5 };
  const petrol: StationOpts["fuels"] = [[FuelType.PETROL, 65_000n, true]];
  // Seven closed and one open at one point, one more open farther: the first read of a
  // one-result page (four rows) takes four of the eight, in no set order.
  const tied: string[] = [];
  for (let i = 0; i < 7; i++) tied.push(await station(stations, 100, { from, open: false, fuels: petrol }));
  const openTied = await station(stations, 100, { from, fuels: petrol });
  tied.push(openTied);
  const farther = await station(stations, 400, { from, fuels: petrol });
  const { app } = await driverWithLine(1_000_000n);

  const one = await app.findFillUpStations({ location: from, radiusM: 1_000, pageSize: 1 });
  assert.equal(one.results.map((x) => x.station!.stationId), [openTied]);
  const two = await app.findFillUpStations({ location: from, radiusM: 1_000, pageSize: 2 });
  assert.equal(two.results.map((x) => x.station!.stationId), [openTied, farther]);

  // The reads themselves: a tie split between two batches is read whole, each row once.
  const q = { center: from, radiusM: 1_000, fuelTypes: null, currency: "NGN", maxPriceMinorPerLitre: 10n ** 12n, scopes: [], freshSince: null, priceOf: null };
  const read = async (after: FillUpAfter | null) => {
    const { text, values } = fillUpSql({ ...q, after, limit: 4 });
    return await stationDb(async (db) => (await db.query(text, values)).rows as NearbyRaw[]);
  };
  const first = await read(null);
  const second = await read(fillUpAfter(first, null, false));
  const third = await read(fillUpAfter(second, fillUpAfter(first, null, false), false));
  assert.equal([...first, ...second].map((r) => r.station.station_id).sort(), [...tied].sort());
  assert.equal(third.map((r) => r.station.station_id), [farther]);
});

test("a station allow-list, a price in another currency, a page size, a price that buys no millilitre", async () => {
  const from = { latitude: 8.5, longitude: 5.5 };
  const a = await station(stations, 100, { from, fuels: [[FuelType.PETROL, 65_000n, true]] });
  const b = await station(otherStations, 200, { from, fuels: [[FuelType.PETROL, 64_000n, true]] });
  await station(stations, 300, { from, currency: "GHS", fuels: [[FuelType.PETROL, 1_000n, true]] });
  const dear = await station(stations, 400, { from, fuels: [[FuelType.PETROL, 65_001n, true], [FuelType.DIESEL, 65_000n, true]] });
  const { bank, line, app } = await driverWithLine(1_000_000n);

  const any = await app.findFillUpStations({ location: from, radiusM: 1_000 });
  assert.equal(any.results.map((x) => x.station!.stationId), [a, b, dear], "the GHS price is no price for an NGN line");
  assert.equal((await app.findFillUpStations({ location: from, radiusM: 1_000, pageSize: 1 })).results.map((x) => x.station!.stationId), [a]);
  const cheapest = await app.findFillUpStations({ location: from, radiusM: 1_000, fuelType: FuelType.PETROL, sort: NearbySort.PRICE, pageSize: 2 });
  assert.equal(cheapest.results.map((x) => x.station!.stationId), [b, a]);

  // One station listed by id, not its merchant: only that one.
  await bank.credit.updateSpendingControls({ creditLineId: line.creditLineId, expectedVersion: line.version, controls: { allowedStationIds: [b] } });
  assert.equal((await app.findFillUpStations({ location: from, radiusM: 1_000 })).results.map((x) => x.station!.stationId), [b]);

  // 0.65 NGN to spend: exactly a millilitre at 650.00 a litre, none at 650.01.
  const small = await driverWithLine(65n);
  const r = await small.app.findFillUpStations({ location: from, radiusM: 1_000 });
  assert.equal(r.results.map((x) => x.station!.stationId), [a, b, dear]);
  assert.equal(r.results.map((x) => x.fuels.map((f) => [FuelType[f.fuelType], f.volumeMl])), [[["PETROL", 1n]], [["PETROL", 1n]], [["DIESEL", 1n]]]);
  const petrolOnly = await small.app.findFillUpStations({ location: from, radiusM: 1_000, fuelType: FuelType.PETROL, sort: NearbySort.PRICE });
  assert.equal(petrolOnly.results.map((x) => x.station!.stationId), [b, a], "650.01 a litre buys no millilitre");
});

test("nothing spendable, outside the line's hours, a fuel the line refuses: an empty list that says why", async () => {
  const { bank, line, app } = await driverWithLine(1_000_000n);
  // Allowed only on the day after tomorrow (UTC): never now.
  const today = ((new Date().getUTCDay() + 6) % 7) + 1;
  const later = ((today + 1) % 7) + 1;
  const hours = await bank.credit.updateSpendingControls({
    creditLineId: line.creditLineId, expectedVersion: line.version,
    controls: { timeZone: "UTC", allowedHours: [{ weekdays: [later], startMinute: 0, endMinute: 1440 }] },
  });
  const outside = await app.findFillUpStations({ location: CENTER, radiusM: 5_000 });
  assert.equal(outside.results, []);
  assert.is(outside.cannotBuyReason, "OUTSIDE_ALLOWED_HOURS");
  assert.is(outside.spendable!.amountMinor, 1_000_000n);

  const dieselOnly = await bank.credit.updateSpendingControls({
    creditLineId: line.creditLineId, expectedVersion: hours.creditLine!.version,
    controls: { allowedFuelTypes: [FuelType.DIESEL] },
  });
  const petrol = await app.findFillUpStations({ location: CENTER, radiusM: 5_000, fuelType: FuelType.PETROL });
  assert.equal(petrol.results, []);
  assert.is(petrol.cannotBuyReason, "FUEL_TYPE_NOT_ALLOWED");

  await bank.credit.freezeCreditLine({ creditLineId: line.creditLineId, expectedVersion: dieselOnly.creditLine!.version, reason: "t" });
  const frozen = await app.findFillUpStations({ location: CENTER, radiusM: 5_000 });
  assert.equal(frozen.results, []);
  assert.is(frozen.cannotBuyReason, "NOTHING_SPENDABLE");
  assert.is(frozen.spendable!.amountMinor, 0n);
});

test("the fill-up query runs on the GiST index, nearest first as a nearest-neighbour scan", async () => {
  await stationDb(async (db) => {
    await db.query(
      `INSERT INTO station.stations (station_id, merchant_id, name, address, latitude, longitude, currency, time_zone,
         always_open, pumps, fuel_types, status, created_by, create_time, update_time)
       SELECT gen_random_uuid(), $1, 'Bulk ' || i, '{"line1":"x","line2":"","city":"x","region":"","postal_code":"","country_code":"NG"}',
         -20 + (i % 100) * 0.05, 20 + (i / 100) * 0.05, 'NGN', 'Africa/Lagos', true,
         '[{"pump_id":"00000000-0000-4000-8000-000000000000","label":"1","fuel_types":["PETROL"]}]', ARRAY['PETROL'], 'ACTIVE', 'test', now(), now()
       FROM generate_series(0, 4999) i`,
      [merchantId],
    );
    await db.query(
      `INSERT INTO station.fuel_availability (station_id, fuel_type, in_stock, price_minor_per_litre, currency, update_time,
         price_update_time, updated_by, updated_by_role)
       SELECT station_id, 'PETROL', true, 60000 + (abs(hashtext(name)) % 5000), 'NGN', now(), now(), 'test', 'MERCHANT_ADMIN'
       FROM station.stations WHERE name LIKE 'Bulk %'`,
    );
    await db.query(`ANALYZE station.stations`);
    await db.query(`ANALYZE station.fuel_availability`);
    const base = { center: { latitude: -18, longitude: 22 }, radiusM: 20_000, fuelTypes: ["PETROL", "DIESEL"], currency: "NGN", maxPriceMinorPerLitre: 10n ** 12n, scopes: [{ stationIds: [], merchantIds: [merchantId] }], freshSince: new Date(Date.now() - 86_400_000) };
    const reads: [string | null, FillUpAfter | null][] = [
      [null, null],
      ["PETROL", null],
      [null, { chord: 0.001, idsAtChord: [randomUUID()] }],
      ["PETROL", { priceMinorPerLitre: "61000", chord: 0.001, stationId: randomUUID() }],
    ];
    for (const [priceOf, after] of reads) {
      const q = fillUpSql({ ...base, priceOf, after, limit: 80 });
      const plan = (await db.query(`EXPLAIN ${q.text}`, q.values)).rows.map((r) => r["QUERY PLAN"] as string).join("\n");
      assert.match(plan, /stations_geo/, plan);
      assert.not.match(plan, /Seq Scan on stations/, plan);
    }
    await db.query("BEGIN");
    try {
      await db.query("SET LOCAL enable_bitmapscan = off");
      for (const after of [null, { chord: 0.001, idsAtChord: [randomUUID()] }]) {
        const q = fillUpSql({ ...base, priceOf: null, after, limit: 20 });
        const plan = (await db.query(`EXPLAIN ${q.text}`, q.values)).rows.map((r) => r["QUERY PLAN"] as string).join("\n");
        assert.match(plan, /Index Scan using stations_geo/, plan);
        assert.match(plan, /Order By: \(geo (OPERATOR\(public\.)?<->/, plan);
      }
    } finally {
      await db.query("ROLLBACK");
    }
  });
});

test.run();
