// StationService's pure rules: great-circle distances and their index-sphere conversions,
// coordinate and radius validation, opening hours in the station's time zone, the
// coalescing subscriber queue, the NOTIFY payload, and what a fill-up search shows of a
// station's fuels (litres at its price, staleness) and where its next read starts.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema } from "../gen/google/rpc/error_details_pb.js";
import { CoalescingQueue } from "../services/station/coalescing-queue.js";
import {
  chordToMetres,
  EARTH_RADIUS_M,
  haversineMetres,
  INDEX_SPHERE_RADIUS_M,
  latLng,
  metresOnIndexSphere,
  metresToChord,
  radius,
} from "../services/station/geo.js";
import { hours, isOpenAt, timeZone, type Hours } from "../services/station/opening-hours.js";
import { weekdayMinute } from "../platform/zoned-time.js";
import { parsePayload } from "../services/station/watch-hub.js";
import { fillUpFuels, fuelNames, maxPriceFor, type Allowance } from "../services/station/fill-up-rule.js";
import { fillUpAfter } from "../services/station/fill-up-sql.js";
import type { FuelJson, NearbyRaw } from "../services/station/store.js";
import { FuelType } from "../gen/fuel/common/v1/common_pb.js";
import { volumeFor } from "../platform/money.js";

const test = suite("station-rules");

function fieldOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    const ce = ConnectError.from(err);
    assert.is(ce.code, Code.InvalidArgument);
    return ce.findDetails(BadRequestSchema)[0]!.fieldViolations[0]!.field;
  }
  throw new Error("expected INVALID_ARGUMENT");
}

/** The chord between two points on a sphere of radius r, from 3-D coordinates (as cube does). */
function chord3d(a: { latitude: number; longitude: number }, b: { latitude: number; longitude: number }, r: number): number {
  const p = (x: typeof a) => {
    const la = (x.latitude * Math.PI) / 180;
    const lo = (x.longitude * Math.PI) / 180;
    return [r * Math.cos(la) * Math.cos(lo), r * Math.cos(la) * Math.sin(lo), r * Math.sin(la)];
  };
  const [x1, y1, z1] = p(a);
  const [x2, y2, z2] = p(b);
  return Math.hypot(x1! - x2!, y1! - y2!, z1! - z2!);
}

test("haversine matches known distances", () => {
  // One degree of longitude on the equator: 2πR/360.
  assert.ok(Math.abs(haversineMetres({ latitude: 0, longitude: 0 }, { latitude: 0, longitude: 1 }) - (2 * Math.PI * EARTH_RADIUS_M) / 360) < 1e-6);
  // Pole to pole: half a circumference.
  assert.ok(Math.abs(haversineMetres({ latitude: 90, longitude: 0 }, { latitude: -90, longitude: 0 }) - Math.PI * EARTH_RADIUS_M) < 1e-6);
  // Lagos → Abuja ≈ 524 km (published great-circle figures: 523–525 km).
  const d = haversineMetres({ latitude: 6.5244, longitude: 3.3792 }, { latitude: 9.0765, longitude: 7.3986 });
  assert.ok(d > 522_000 && d < 526_000, String(d));
  assert.is(haversineMetres({ latitude: 12, longitude: 34 }, { latitude: 12, longitude: 34 }), 0);
});

test("a chord on the index sphere converts to the haversine distance", () => {
  fc.assert(
    fc.property(
      fc.double({ min: -89, max: 89, noNaN: true }),
      fc.double({ min: -179, max: 179, noNaN: true }),
      fc.double({ min: -0.5, max: 0.5, noNaN: true }),
      fc.double({ min: -0.5, max: 0.5, noNaN: true }),
      (lat, lng, dLat, dLng) => {
        const a = { latitude: lat, longitude: lng };
        const b = { latitude: Math.max(-90, Math.min(90, lat + dLat)), longitude: lng + dLng };
        const ref = haversineMetres(a, b);
        const viaIndex = chordToMetres(chord3d(a, b, INDEX_SPHERE_RADIUS_M));
        return Math.abs(viaIndex - ref) <= Math.max(0.01, ref * 1e-6);
      },
    ),
  );
  for (const m of [1, 150, 5_000, 50_000]) {
    assert.ok(Math.abs(chordToMetres(metresToChord(m)) - m) < 1e-6);
    // The chord of m metres is slightly shorter than m scaled to the index sphere.
    assert.ok(metresToChord(m) <= metresOnIndexSphere(m));
  }
});

test("coordinates and radius are validated to real ranges, naming the field", () => {
  assert.equal(latLng("location", { latitude: -90, longitude: 180 }), { latitude: -90, longitude: 180 });
  assert.is(fieldOf(() => latLng("location", { latitude: 91, longitude: 0 })), "location.latitude");
  assert.is(fieldOf(() => latLng("location", { latitude: -90.0001, longitude: 0 })), "location.latitude");
  assert.is(fieldOf(() => latLng("location", { latitude: Number.NaN, longitude: 0 })), "location.latitude");
  assert.is(fieldOf(() => latLng("area.center", { latitude: 0, longitude: 180.5 })), "area.center.longitude");
  assert.is(fieldOf(() => latLng("location", { latitude: 0, longitude: Number.POSITIVE_INFINITY })), "location.longitude");
  assert.is(fieldOf(() => latLng("location", undefined)), "location");
  assert.is(radius("radius_m", 1), 1);
  assert.is(radius("radius_m", 50_000), 50_000);
  assert.is(fieldOf(() => radius("radius_m", 0)), "radius_m");
  assert.is(fieldOf(() => radius("radius_m", -10)), "radius_m");
  assert.is(fieldOf(() => radius("radius_m", 50_001)), "radius_m");
});

test("time zones: IANA names accepted as given, anything else refused", () => {
  assert.is(timeZone("tz", "Africa/Lagos"), "Africa/Lagos");
  assert.is(timeZone("tz", "America/Argentina/Buenos_Aires"), "America/Argentina/Buenos_Aires");
  assert.is(timeZone("tz", "Asia/Kolkata"), "Asia/Kolkata", "not ICU's legacy alias Asia/Calcutta");
  assert.is(timeZone("tz", "UTC"), "UTC");
  for (const bad of ["", "Mars/Olympus_Mons", "+01:00", "Lagos", "Africa/Lagos/../x", "Africa/Lagos\n"]) {
    assert.is(fieldOf(() => timeZone("opening_hours.time_zone", bad)), "opening_hours.time_zone", bad);
  }
});

test("opening hours validation", () => {
  const ok = hours("h", { timeZone: "Africa/Lagos", alwaysOpen: false, periods: [{ weekday: 1, openMinute: 0, closeMinute: 1440 }] });
  assert.equal(ok.periods, [{ weekday: 1, open: 0, close: 1440 }]);
  assert.is(fieldOf(() => hours("h", undefined)), "h");
  assert.is(fieldOf(() => hours("h", { timeZone: "Africa/Lagos", alwaysOpen: true, periods: [{ weekday: 1, openMinute: 0, closeMinute: 60 }] })), "h.periods");
  assert.is(fieldOf(() => hours("h", { timeZone: "Africa/Lagos", alwaysOpen: false, periods: [{ weekday: 0, openMinute: 0, closeMinute: 60 }] })), "h.periods[0].weekday");
  assert.is(fieldOf(() => hours("h", { timeZone: "Africa/Lagos", alwaysOpen: false, periods: [{ weekday: 8, openMinute: 0, closeMinute: 60 }] })), "h.periods[0].weekday");
  assert.is(fieldOf(() => hours("h", { timeZone: "Africa/Lagos", alwaysOpen: false, periods: [{ weekday: 2, openMinute: -1, closeMinute: 60 }] })), "h.periods[0].open_minute");
  assert.is(fieldOf(() => hours("h", { timeZone: "Africa/Lagos", alwaysOpen: false, periods: [{ weekday: 2, openMinute: 0, closeMinute: 0 }] })), "h.periods[0].close_minute");
  assert.is(fieldOf(() => hours("h", { timeZone: "Africa/Lagos", alwaysOpen: false, periods: [{ weekday: 2, openMinute: 0, closeMinute: 1441 }] })), "h.periods[0].close_minute");
});

const lagosWeekdays9to17: Hours = {
  timeZone: "Africa/Lagos", // UTC+1, no DST
  alwaysOpen: false,
  periods: [1, 2, 3, 4, 5].map((weekday) => ({ weekday, open: 9 * 60, close: 17 * 60 })),
};

test("local time is remembered per zone for one UTC minute, never longer", () => {
  const monday0859 = weekdayMinute(new Date("2025-06-02T07:59:00Z"), "Africa/Lagos");
  assert.equal(weekdayMinute(new Date("2025-06-02T07:59:59.999Z"), "Africa/Lagos"), monday0859);
  assert.equal(weekdayMinute(new Date("2025-06-02T08:00:00Z"), "Africa/Lagos"), { weekday: 1, minute: 9 * 60 });
  assert.equal(weekdayMinute(new Date("2025-06-02T08:00:00Z"), "Asia/Kolkata"), { weekday: 1, minute: 13 * 60 + 30 });
  assert.equal(weekdayMinute(new Date("2025-06-02T08:00:30Z"), "Africa/Lagos"), { weekday: 1, minute: 9 * 60 });
  // Back in time is a different minute too (the clock is injectable; tests move it).
  assert.equal(weekdayMinute(new Date("2025-06-01T22:59:00Z"), "Africa/Lagos"), { weekday: 7, minute: 23 * 60 + 59 });
  assert.ok(Object.isFrozen(monday0859), "a shared answer cannot be changed by a caller");
});

test("open now is evaluated in the station's time zone", () => {
  // Monday 2025-06-02.
  assert.equal(weekdayMinute(new Date("2025-06-02T07:59:00Z"), "Africa/Lagos"), { weekday: 1, minute: 8 * 60 + 59 });
  assert.not.ok(isOpenAt(lagosWeekdays9to17, new Date("2025-06-02T07:59:00Z"))); // 08:59 local
  assert.ok(isOpenAt(lagosWeekdays9to17, new Date("2025-06-02T08:00:00Z"))); // 09:00 local: opening is inclusive
  assert.ok(isOpenAt(lagosWeekdays9to17, new Date("2025-06-02T15:59:00Z"))); // 16:59
  assert.not.ok(isOpenAt(lagosWeekdays9to17, new Date("2025-06-02T16:00:00Z"))); // 17:00: closing is exclusive
  assert.not.ok(isOpenAt(lagosWeekdays9to17, new Date("2025-06-07T10:00:00Z"))); // Saturday
  // The same instant is a different local day elsewhere: 23:30 UTC Sunday is Monday 08:30 in Tokyo.
  const tokyo: Hours = { ...lagosWeekdays9to17, timeZone: "Asia/Tokyo", periods: [{ weekday: 1, open: 8 * 60, close: 9 * 60 }] };
  assert.ok(isOpenAt(tokyo, new Date("2025-06-01T23:30:00Z")));
  assert.not.ok(isOpenAt({ ...tokyo, timeZone: "UTC" }, new Date("2025-06-01T23:30:00Z")));
});

test("periods past midnight, including Sunday into Monday", () => {
  const sundayNight: Hours = { timeZone: "UTC", alwaysOpen: false, periods: [{ weekday: 7, open: 22 * 60, close: 2 * 60 }] };
  assert.ok(isOpenAt(sundayNight, new Date("2025-06-01T23:00:00Z"))); // Sunday 23:00
  assert.ok(isOpenAt(sundayNight, new Date("2025-06-02T01:59:00Z"))); // Monday 01:59
  assert.not.ok(isOpenAt(sundayNight, new Date("2025-06-02T02:00:00Z"))); // Monday 02:00
  assert.not.ok(isOpenAt(sundayNight, new Date("2025-06-01T21:59:00Z"))); // Sunday 21:59
  assert.not.ok(isOpenAt(sundayNight, new Date("2025-06-03T01:00:00Z"))); // Tuesday 01:00
  // close == open: 24 hours from the opening minute.
  const fullDay: Hours = { timeZone: "UTC", alwaysOpen: false, periods: [{ weekday: 3, open: 6 * 60, close: 6 * 60 }] };
  assert.ok(isOpenAt(fullDay, new Date("2025-06-05T05:59:00Z"))); // Thursday 05:59
  assert.not.ok(isOpenAt(fullDay, new Date("2025-06-05T06:00:00Z")));
});

test("daylight saving: hours follow local wall-clock time", () => {
  const berlin: Hours = { timeZone: "Europe/Berlin", alwaysOpen: false, periods: [1, 2, 3, 4, 5, 6, 7].map((weekday) => ({ weekday, open: 8 * 60, close: 20 * 60 })) };
  // Winter (UTC+1): 08:00 local = 07:00Z. Summer (UTC+2): 08:00 local = 06:00Z.
  assert.ok(isOpenAt(berlin, new Date("2025-01-15T07:00:00Z")));
  assert.not.ok(isOpenAt(berlin, new Date("2025-01-15T06:30:00Z")));
  assert.ok(isOpenAt(berlin, new Date("2025-07-15T06:00:00Z")));
  assert.not.ok(isOpenAt(berlin, new Date("2025-07-15T18:00:00Z"))); // 20:00 local
});

test("always open, and never open", () => {
  assert.ok(isOpenAt({ timeZone: "UTC", alwaysOpen: true, periods: [] }, new Date()));
  assert.not.ok(isOpenAt({ timeZone: "UTC", alwaysOpen: false, periods: [] }, new Date()));
});

test("coalescing queue: latest value per key, first-offered key order", () => {
  const q = new CoalescingQueue<number>({ capacity: 10, maxLagMs: 1_000 });
  q.offer("a", 1);
  q.offer("b", 2);
  q.offer("a", 3);
  assert.is(q.size, 2);
  assert.equal(q.drain(), [3, 2]);
  assert.is(q.size, 0);
  assert.equal(q.drain(), []);
});

test("coalescing queue: too many pending keys or too much lag overflows it", () => {
  const bounded = new CoalescingQueue<number>({ capacity: 2, maxLagMs: 1_000 });
  assert.ok(bounded.offer("a", 1));
  assert.ok(bounded.offer("b", 1));
  assert.ok(bounded.offer("a", 2), "replacing a pending key never overflows");
  assert.not.ok(bounded.offer("c", 1));
  assert.ok(bounded.overflowed);
  assert.is(bounded.size, 0, "an overflowed queue holds nothing");
  assert.not.ok(bounded.offer("a", 3));

  let now = 0;
  const lagging = new CoalescingQueue<number>({ capacity: 100, maxLagMs: 500, now: () => now });
  assert.ok(lagging.offer("a", 1));
  now = 400;
  assert.ok(lagging.offer("a", 2));
  lagging.drain(); // the consumer keeps up: lag restarts
  now = 1_000;
  assert.ok(lagging.offer("b", 1));
  now = 1_501;
  assert.not.ok(lagging.offer("b", 2));
  assert.ok(lagging.overflowed);
});

test("coalescing queue: wait wakes on data, overflow, close, timeout and abort", async () => {
  const q = new CoalescingQueue<number>({ capacity: 1, maxLagMs: 1_000 });
  const ready = q.wait(1_000);
  q.offer("a", 1);
  assert.is(await ready, "ready");
  assert.is(await q.wait(1_000), "ready", "still pending");
  q.drain();
  assert.is(await q.wait(20), "timeout");
  const ac = new AbortController();
  const aborted = q.wait(1_000, ac.signal);
  ac.abort();
  assert.is(await aborted, "aborted");
  q.offer("a", 1);
  q.offer("b", 1);
  assert.is(await q.wait(1_000), "overflow");
  const none = new CoalescingQueue<number>({ capacity: 0, maxLagMs: 1_000 });
  const overflow = none.wait(1_000);
  none.offer("a", 1);
  assert.is(await overflow, "overflow", "a waiting consumer learns it was cut off");
  const c = new CoalescingQueue<number>({ capacity: 1, maxLagMs: 1_000 });
  const closed = c.wait(1_000);
  c.close();
  assert.is(await closed, "closed");
});

test("NOTIFY payloads parse, garbage does not", () => {
  assert.equal(parsePayload("6f1c1c9e-4a4e-4b8e-9f53-7d1d2f0f2c11:PETROL,DIESEL"), {
    stationId: "6f1c1c9e-4a4e-4b8e-9f53-7d1d2f0f2c11",
    fuelTypes: ["PETROL", "DIESEL"],
  });
  assert.equal(parsePayload("6f1c1c9e-4a4e-4b8e-9f53-7d1d2f0f2c11:"), { stationId: "6f1c1c9e-4a4e-4b8e-9f53-7d1d2f0f2c11", fuelTypes: [] });
  assert.is(parsePayload("x; DROP TABLE"), null);
  assert.is(parsePayload(undefined), null);
});

const NOW_MS = Date.UTC(2027, 0, 4, 12);
const fuel = (fuel_type: string, price: bigint, o: Partial<FuelJson> = {}): FuelJson => ({
  fuel_type, in_stock: true, level_ml: null, price_minor_per_litre: String(price), currency: "NGN",
  update_ms: NOW_MS, price_update_ms: NOW_MS, updated_by: "t", updated_by_role: "MERCHANT_ADMIN", ...o,
} as FuelJson);
const allowance = (spendableMinor: bigint, o: Partial<Allowance> = {}): Allowance => ({
  fuelTypes: null, currency: "NGN", spendableMinor, freshSinceMs: NOW_MS - 3_600_000, flagStale: false, ...o,
});

test("fill-up: litres at the station's price, rounded down to the millilitre, at the boundaries", () => {
  const ml = (spendable: bigint, price: bigint) => fillUpFuels([fuel("PETROL", price)], allowance(spendable)).map((f) => f.volumeMl);
  assert.equal(ml(65_000n, 65_000n), [1_000n], "exactly a litre");
  assert.equal(ml(64_999n, 65_000n), [999n], "a minor unit short of a litre");
  assert.equal(ml(65n, 65_000n), [1n], "exactly a millilitre");
  assert.equal(ml(64n, 65_000n), [], "not even a millilitre: left out");
  assert.equal(ml(1_000_003n, 65_000n), [15_384n]);
  // The one rounding rule of the system, and a bound the SQL can apply before reading.
  fc.assert(fc.property(fc.bigInt(0n, 10n ** 13n), fc.bigInt(1n, 10n ** 7n), (spendable, price) => {
    const got = ml(spendable, price);
    assert.equal(got, volumeFor(spendable, price) > 0n ? [volumeFor(spendable, price)] : []);
    assert.is(got.length > 0, price <= maxPriceFor(spendable));
  }));
  assert.is(maxPriceFor(0n), 0n);
  assert.is(maxPriceFor(2n ** 62n), 2n ** 63n - 1n, "bounded to bigint");
});

test("fill-up: out of stock, disallowed, other currency, stale left out or flagged", () => {
  const fuels = [
    fuel("PETROL", 65_000n),
    fuel("DIESEL", 80_000n, { in_stock: false }),
    fuel("KEROSENE", 70_000n, { currency: "GHS" }),
    fuel("LPG", 50_000n, { price_update_ms: NOW_MS - 7_200_000 }),
  ];
  const types = (a: Allowance) => fillUpFuels(fuels, a).map((f) => [FuelType[f.fuelType], f.priceStale]);
  assert.equal(types(allowance(1_000_000n)), [["PETROL", false]]);
  assert.equal(types(allowance(1_000_000n, { flagStale: true })), [["PETROL", false], ["LPG", true]]);
  assert.equal(types(allowance(1_000_000n, { flagStale: true, fuelTypes: new Set([FuelType.LPG]) })), [["LPG", true]]);
  assert.equal(types(allowance(1_000_000n, { freshSinceMs: NOW_MS - 86_400_000 })), [["PETROL", false], ["LPG", false]]);
});

test("fill-up: the fuels asked of the SQL are the line's, narrowed to the one asked for", () => {
  assert.is(fuelNames([], null), null, "any");
  assert.equal(fuelNames([], FuelType.DIESEL), ["DIESEL"]);
  assert.equal(fuelNames([FuelType.DIESEL, FuelType.PETROL], null), ["DIESEL", "PETROL"]);
  assert.equal(fuelNames([FuelType.DIESEL], FuelType.PETROL), [], "asked for one the line does not allow");
});

test("fill-up: the next read starts after the last row, remembering a tie read in part", () => {
  const row = (id: string, chord: number, price: string | null = null) => ({ chord, price, station: { station_id: id } }) as unknown as NearbyRaw;
  assert.equal(fillUpAfter([row("a", 1), row("b", 2), row("c", 2)], null, false), { chord: 2, idsAtChord: ["b", "c"] });
  assert.equal(fillUpAfter([row("d", 2), row("e", 2)], { chord: 2, idsAtChord: ["b", "c"] }, false), { chord: 2, idsAtChord: ["d", "e", "b", "c"] });
  assert.equal(fillUpAfter([row("f", 3)], { chord: 2, idsAtChord: ["b", "c"] }, false), { chord: 3, idsAtChord: ["f"] });
  assert.equal(fillUpAfter([row("a", 1, "60000"), row("b", 0.5, "61000")], null, true), { priceMinorPerLitre: "61000", chord: 0.5, stationId: "b" });
  assert.equal(fillUpAfter([], { chord: 2, idsAtChord: ["b"] }, false), { chord: 2, idsAtChord: ["b"] });
});

test.run();
