// WatchAvailability end to end: a POS-style grpc-js subscriber and a mobile Connect JSON
// subscriber, both through the gateway, receive a price change made through the gateway
// within a second. Also: area watches with fuel filters, bad targets, the coalescing hub
// under a stalled subscriber, and (real PostgreSQL) a second replica fed by NOTIFY.
import { randomUUID } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import * as grpc from "@grpc/grpc-js";
import pg from "pg";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client, type HandlerContext } from "@connectrpc/connect";
import { FuelType, Role } from "../gen/fuel/common/v1/common_pb.js";
import { KycService } from "../gen/fuel/kyc/v1/kyc_pb.js";
import {
  StationService,
  WatchAvailabilityRequestSchema,
  WatchAvailabilityResponseSchema,
  WatchEventKind,
  type WatchAvailabilityResponse,
} from "../gen/fuel/station/v1/station_pb.js";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { createPool } from "../platform/db.js";
import type { ServiceDeps } from "../platform/service.js";
import { watchAvailability } from "../services/station/watch.js";
import type { StationContext } from "../services/station/context.js";
import { ChangeListener, WatchHub } from "../services/station/watch-hub.js";
import { connectJson } from "./helpers/clients.js";
import { realPostgres, startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";

const test = suite("station-watch");
let sys: TestSystem;
let adminToken: string;
let merchantId: string;
let admin: Client<typeof StationService>;
let driverToken: string;
let driver: Client<typeof StationService>;

const key = () => ({ headers: { "idempotency-key": randomUUID() } });
const ABUJA = { latitude: 9.0765, longitude: 7.3986 };

/** Messages of one stream with their arrival times, and a way to wait for one. */
class Collector {
  readonly items: Array<{ msg: WatchAvailabilityResponse; at: number }> = [];
  error: unknown = null;
  ended = false;
  private cursor = 0;
  private wake: (() => void) | null = null;

  push(msg: WatchAvailabilityResponse) {
    this.items.push({ msg, at: Date.now() });
    this.wake?.();
  }
  fail(err: unknown) {
    this.error = err;
    this.wake?.();
  }
  end() {
    this.ended = true;
    this.wake?.();
  }

  /** The next message (after those already taken) matching `pred`. */
  async next(pred: (m: WatchAvailabilityResponse) => boolean, timeoutMs = 3_000): Promise<{ msg: WatchAvailabilityResponse; at: number }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.cursor < this.items.length) {
        const item = this.items[this.cursor++]!;
        if (pred(item.msg)) return item;
      }
      if (this.error) throw this.error;
      if (this.ended) throw new Error("stream ended");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching message within ${timeoutMs} ms; got ${this.items.map((i) => WatchEventKind[i.msg.kind]).join(",")}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          this.wake = null;
          resolve();
        };
      });
    }
  }
}

type WatchInit = MessageInitShape<typeof WatchAvailabilityRequestSchema>;

/** A grpc-js server-streaming call through the gateway, as a POS terminal would make it. */
function grpcWatch(token: string, req: WatchInit): { c: Collector; cancel(): void } {
  const client = new grpc.Client(sys.gatewayUrl.replace(/^https?:\/\//, ""), grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  md.set("authorization", `Bearer ${token}`);
  const c = new Collector();
  const call = client.makeServerStreamRequest(
    "/fuel.station.v1.StationService/WatchAvailability",
    (m: WatchInit) => Buffer.from(toBinary(WatchAvailabilityRequestSchema, create(WatchAvailabilityRequestSchema, m))),
    (b: Buffer) => fromBinary(WatchAvailabilityResponseSchema, b),
    req,
    md,
  );
  call.on("data", (m: WatchAvailabilityResponse) => c.push(m));
  call.on("error", (e: grpc.ServiceError) => (e.code === grpc.status.CANCELLED ? c.end() : c.fail(e)));
  call.on("end", () => c.end());
  return {
    c,
    cancel() {
      call.cancel();
      client.close();
    },
  };
}

/** A Connect JSON (HTTP/1.1) server-streaming call through the gateway, as the app makes it. */
function connectWatch(client: Client<typeof StationService>, req: WatchInit): { c: Collector; cancel(): void } {
  const ac = new AbortController();
  const c = new Collector();
  (async () => {
    try {
      for await (const m of client.watchAvailability(req, { signal: ac.signal })) c.push(m);
      c.end();
    } catch (err) {
      if (ac.signal.aborted) c.end();
      else c.fail(err);
    }
  })();
  return { c, cancel: () => ac.abort() };
}

async function newStation(location = ABUJA, fuelTypes = [FuelType.PETROL, FuelType.DIESEL]): Promise<string> {
  const res = await admin.createStation(
    {
      name: `Watch ${randomUUID().slice(0, 6)}`,
      address: { line1: "Plot 1", city: "Abuja", countryCode: "NG" },
      location,
      currency: "NGN",
      openingHours: { timeZone: "Africa/Lagos", alwaysOpen: true },
      pumps: [{ label: "1", fuelTypes }],
    },
    key(),
  );
  return res.station!.stationId;
}

const setPrice = (stationId: string, fuelType: FuelType, price: bigint) =>
  admin.updateFuelAvailability({ stationId, updates: [{ fuelType, inStock: true, priceMinorPerLitre: price, currency: "NGN" }] }, key());

test.before(async () => {
  sys = await startTestSystem();
  adminToken = await mintAccessToken(sys, principal(Role.SYSTEM_ADMIN));
  const kyc = connectJson(KycService, sys.gatewayUrl, adminToken);
  merchantId = (await kyc.createMerchant({ name: "Watch Fuels", registrationNumber: `RC-${randomUUID().slice(0, 8)}`, contactEmail: "w@example.com" }, key())).merchant!.merchantId;
  admin = connectJson(StationService, sys.gatewayUrl, await mintAccessToken(sys, principal(Role.MERCHANT_ADMIN, { merchantId })));
  driverToken = await mintAccessToken(sys, principal(Role.DRIVER, { driverId: randomUUID() }));
  driver = connectJson(StationService, sys.gatewayUrl, driverToken);
});

test.after(async () => {
  await sys?.stop();
});

test("a price change made through the gateway reaches a grpc-js and a Connect subscriber within a second", async () => {
  const stationId = await newStation();
  await setPrice(stationId, FuelType.PETROL, 61_700n);
  const g = grpcWatch(driverToken, { target: { case: "stationId", value: stationId } });
  const c = connectWatch(driver, { target: { case: "stationId", value: stationId } });
  try {
    for (const s of [g.c, c.c]) {
      const snap = (await s.next((m) => m.kind === WatchEventKind.SNAPSHOT)).msg;
      assert.is(snap.stationId, stationId);
      assert.equal(snap.fuels.map((f) => f.priceMinorPerLitre), [61_700n]);
    }
    const t0 = Date.now();
    await setPrice(stationId, FuelType.PETROL, 63_450n);
    for (const [name, s] of [["grpc-js", g.c], ["connect", c.c]] as const) {
      const { msg, at } = await s.next((m) => m.kind === WatchEventKind.UPDATE, 2_000);
      assert.is(msg.stationId, stationId);
      assert.is(msg.fuels.length, 1);
      assert.is(msg.fuels[0]!.fuelType, FuelType.PETROL);
      assert.is(msg.fuels[0]!.priceMinorPerLitre, 63_450n);
      assert.is(msg.fuels[0]!.updatedByRole, Role.MERCHANT_ADMIN);
      assert.ok(at - t0 < 1_000, `${name} got the update after ${at - t0} ms`);
    }
  } finally {
    g.cancel();
    c.cancel();
  }
});

test("an area watch sends a snapshot per station and only the fuel types asked for", async () => {
  const center = { latitude: 9.5, longitude: 7.9 };
  const a = await newStation({ latitude: 9.501, longitude: 7.9 });
  const b = await newStation({ latitude: 9.5, longitude: 7.902 });
  const outside = await newStation({ latitude: 9.7, longitude: 7.9 });
  await setPrice(a, FuelType.DIESEL, 90_000n);
  const w = connectWatch(driver, { target: { case: "area", value: { center, radiusM: 2_000 } }, fuelTypes: [FuelType.DIESEL] });
  try {
    const s1 = (await w.c.next((m) => m.kind === WatchEventKind.SNAPSHOT)).msg;
    const s2 = (await w.c.next((m) => m.kind === WatchEventKind.SNAPSHOT)).msg;
    assert.equal(new Set([s1.stationId, s2.stationId]), new Set([a, b]));
    assert.equal((s1.stationId === a ? s1 : s2).fuels.map((f) => f.priceMinorPerLitre), [90_000n]);
    await setPrice(outside, FuelType.DIESEL, 1n); // not watched
    await setPrice(a, FuelType.PETROL, 60_000n); // fuel type not watched
    await setPrice(b, FuelType.DIESEL, 91_000n);
    const u = (await w.c.next(() => true)).msg;
    assert.is(u.kind, WatchEventKind.UPDATE);
    assert.is(u.stationId, b);
    assert.equal(u.fuels.map((f) => [f.fuelType, f.priceMinorPerLitre]), [[FuelType.DIESEL, 91_000n]]);
  } finally {
    w.cancel();
  }
});

test("bad watch targets are refused", async () => {
  const first = async (req: WatchInit) => {
    for await (const m of driver.watchAvailability(req)) return m;
    return null;
  };
  const codeOf = async (req: WatchInit) => {
    try {
      await first(req);
    } catch (err) {
      const ce = ConnectError.from(err);
      return [Code[ce.code], ce.findDetails(ErrorInfoSchema)[0]?.reason, ce.findDetails(ErrorInfoSchema)[0]?.metadata.field];
    }
    return null;
  };
  assert.equal(await codeOf({}), ["InvalidArgument", "INVALID_FIELD", "target"]);
  assert.equal(await codeOf({ target: { case: "stationId", value: randomUUID() } }), ["NotFound", "NOT_FOUND", undefined]);
  assert.equal(await codeOf({ target: { case: "area", value: { center: { latitude: 95, longitude: 0 }, radiusM: 10 } } }), ["InvalidArgument", "INVALID_FIELD", "area.center.latitude"]);
  assert.equal(await codeOf({ target: { case: "area", value: { center: ABUJA, radiusM: 0 } } }), ["InvalidArgument", "INVALID_FIELD", "area.radius_m"]);
  assert.equal(await codeOf({ target: { case: "stationId", value: randomUUID() }, fuelTypes: [9 as FuelType] }), ["InvalidArgument", "INVALID_FIELD", "fuel_types[0]"]);
  // More than 500 stations in the area.
  const db = new pg.Client({ connectionString: sys.databaseUrl });
  await db.connect();
  try {
    await db.query(
      `INSERT INTO station.stations (station_id, merchant_id, name, address, latitude, longitude, currency, time_zone,
         always_open, pumps, fuel_types, status, created_by, create_time, update_time)
       SELECT gen_random_uuid(), $1, 'Dense ' || i, '{}', 30 + (i % 25) * 0.001, 30 + (i / 25) * 0.001, 'NGN', 'Africa/Lagos', true,
         '[]', ARRAY['PETROL'], 'ACTIVE', 'test', now(), now()
       FROM generate_series(0, 520) i`,
      [merchantId],
    );
  } finally {
    await db.end();
  }
  assert.equal(await codeOf({ target: { case: "area", value: { center: { latitude: 30.012, longitude: 30.01 }, radiusM: 10_000 } } }), ["InvalidArgument", "WATCH_AREA_TOO_LARGE", "area"]);
});

test("a stalled subscriber is coalesced, then cut off; writers and other subscribers carry on", async () => {
  const stationId = await newStation();
  const pool = createPool({ connectionString: sys.databaseUrl, max: 1 });
  const hub = new WatchHub(pool, { notify: false });
  const filter = { stationIds: new Set([stationId]), fuelTypes: null };
  try {
    const stalled = hub.subscribe(filter, { capacity: 8, maxLagMs: 60_000 });
    const live = hub.subscribe(filter);
    for (let i = 1; i <= 20; i++) {
      await setPrice(stationId, i % 2 ? FuelType.PETROL : FuelType.DIESEL, 60_000n + BigInt(i));
      hub.changed(stationId, [i % 2 ? "PETROL" : "DIESEL"]);
      assert.is(await live.queue.wait(1_000), "ready");
      const got = live.queue.drain();
      assert.is(got[got.length - 1]!.price_minor_per_litre, 60_000n + BigInt(i), "the live subscriber sees every change");
    }
    // 20 changes of 2 fuel types: the stalled subscriber holds only the latest of each.
    assert.is(stalled.queue.size, 2);
    assert.not.ok(stalled.queue.overflowed);
    const latest = stalled.queue.drain();
    assert.equal(latest.map((r) => `${r.fuel_type}=${r.price_minor_per_litre}`).sort(), ["DIESEL=60020", "PETROL=60019"]);
    // One whose backlog outgrows its bound is cut off; the others are untouched.
    const tiny = hub.subscribe(filter, { capacity: 1 });
    hub.changed(stationId, ["PETROL", "DIESEL"]);
    assert.is(await live.queue.wait(1_000), "ready");
    assert.is(live.queue.drain().length, 2);
    assert.is(await tiny.queue.wait(10), "overflow");
    assert.is(hub.subscriberCount, 2, "the stalled and the live subscriber remain");
  } finally {
    await hub.close();
    await pool.end();
  }
});

test("the stream's own policy: heartbeat on silence, RESOURCE_EXHAUSTED when too slow, OK at its lifetime", async () => {
  const stationId = await newStation();
  const pool = createPool({ connectionString: sys.databaseUrl, max: 1 });
  const hub = new WatchHub(pool, { notify: false, capacity: 1 });
  const deps = { pool, now: () => new Date() } as unknown as ServiceDeps;
  const ctx = (signal: AbortSignal) => ({ signal }) as unknown as HandlerContext;
  const req = create(WatchAvailabilityRequestSchema, { target: { case: "stationId", value: stationId } });
  try {
    // Silence → HEARTBEAT; then the lifetime runs out → the stream ends (OK).
    const kinds: string[] = [];
    for await (const m of watchAvailability(deps, hub, { heartbeatMs: 40, maxLifetimeMs: 150 })(req, ctx(new AbortController().signal))) {
      kinds.push(WatchEventKind[m.kind]);
    }
    assert.is(kinds[0], "SNAPSHOT");
    assert.ok(kinds.slice(1).length >= 2 && kinds.slice(1).every((k) => k === "HEARTBEAT"), kinds.join(","));
    // A consumer that stops reading while changes pile up past its bound gets SUBSCRIBER_TOO_SLOW.
    const stream = watchAvailability(deps, hub, { heartbeatMs: 10_000, maxLifetimeMs: 60_000 })(req, ctx(new AbortController().signal));
    assert.is((await stream.next()).value!.kind, WatchEventKind.SNAPSHOT);
    const pending = stream.next(); // parked waiting for changes
    await setPrice(stationId, FuelType.PETROL, 61_000n);
    await setPrice(stationId, FuelType.DIESEL, 91_000n);
    hub.changed(stationId, ["PETROL", "DIESEL"]); // two keys, capacity one
    try {
      await pending;
      assert.unreachable("the slow stream should have ended");
    } catch (err) {
      const ce = ConnectError.from(err);
      assert.is(ce.code, Code.ResourceExhausted);
      assert.is(ce.findDetails(ErrorInfoSchema)[0]?.reason, "SUBSCRIBER_TOO_SLOW");
    }
    assert.is(hub.subscriberCount, 0, "its subscription is gone");
  } finally {
    await hub.close();
    await pool.end();
  }
});

test("changes committed through one replica reach subscribers of another (LISTEN/NOTIFY)", async () => {
  if (!realPostgres()) {
    // Embedded PGlite serves every connection from one session and does not route
    // notifications to the listening connection, so the single embedded process fans
    // out in-process; this is checked here, and the cross-replica path runs in CI.
    assert.is((sys.services.station!.deps as StationContext).hub.notifiesThroughPostgres, false);
    console.log("  station-watch: embedded database: cross-replica NOTIFY is exercised only on real PostgreSQL (CI)");
    return;
  }
  assert.is((sys.services.station!.deps as StationContext).hub.notifiesThroughPostgres, true);
  const stationId = await newStation();
  // A second replica's hub and listener, on the same database.
  const pool = createPool({ connectionString: sys.databaseUrl, max: 2 });
  const hub = new WatchHub(pool, { notify: true });
  const listener = new ChangeListener(sys.databaseUrl, hub);
  await listener.start();
  try {
    const sub = hub.subscribe({ stationIds: new Set([stationId]), fuelTypes: null });
    const t0 = Date.now();
    await setPrice(stationId, FuelType.DIESEL, 97_300n); // served by the running replica
    assert.is(await sub.queue.wait(2_000), "ready");
    assert.ok(Date.now() - t0 < 1_000);
    assert.equal(sub.queue.drain().map((r) => [r.fuel_type, r.price_minor_per_litre]), [["DIESEL", 97_300n]]);
  } finally {
    await hub.close();
    await listener.stop();
    await pool.end();
  }
});

test.run();
