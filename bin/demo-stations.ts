// Demo chapter for stations, called from bin/demo.ts: through the gateway over Connect
// JSON, as the apps and terminals do — an operator registers a merchant and its stations,
// each station's POS terminal gets a credential and posts prices, the driver's app finds
// stations near the driver and subscribes to live availability, a terminal changes a
// price, and the update arrives on the driver's stream.
import { randomUUID } from "node:crypto";
import type { DescService } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AuthService, MachineKind } from "../gen/fuel/auth/v1/auth_pb.js";
import { FuelType } from "../gen/fuel/common/v1/common_pb.js";
import { KycService } from "../gen/fuel/kyc/v1/kyc_pb.js";
import { NearbySort, StationService, WatchEventKind, type WatchAvailabilityResponse } from "../gen/fuel/station/v1/station_pb.js";
import { moneyText } from "../platform/money-text.js";

export interface StationsDemoContext {
  gatewayUrl: string;
  systemAdminToken: string;
  driverToken: string;
  step: (n: number, text: string) => void;
  show: (label: string, value: unknown) => void;
  firstStep: number;
}

function app<S extends DescService>(service: S, baseUrl: string, token?: string): Client<S> {
  return createClient(service, createConnectTransport({
    baseUrl,
    httpVersion: "1.1",
    interceptors: [(next) => async (req) => {
      if (token) req.header.set("authorization", `Bearer ${token}`);
      req.header.set("idempotency-key", randomUUID());
      return await next(req);
    }],
  }));
}

// Around the driver in Lagos (Victoria Island).
export const DRIVER_AT = { latitude: 6.4281, longitude: 3.4219 };
const STATIONS = [
  { name: "Ahmadu Bello Way", location: { latitude: 6.4300, longitude: 3.4140 }, petrol: 61_700n, diesel: 95_000n },
  { name: "Adeola Odeku", location: { latitude: 6.4325, longitude: 3.4230 }, petrol: 62_900n, diesel: 94_500n },
  { name: "Lekki Phase 1 Gate", location: { latitude: 6.4478, longitude: 3.4723 }, petrol: 60_950n, diesel: 96_200n },
];

const naira = (minorPerLitre: bigint) => `${moneyText(minorPerLitre, "NGN", "symbol")}/L`;

export interface StationsDemoResult {
  merchantId: string;
  /** The watched station, its POS terminal's access token, and the step number reached. */
  stationId: string;
  terminalToken: string;
  nextStep: number;
}

export async function stationsDemo(ctx: StationsDemoContext): Promise<StationsDemoResult> {
  const { gatewayUrl: url, step, show } = ctx;
  let n = ctx.firstStep;
  const operator = app(StationService, url, ctx.systemAdminToken);

  step(n++, "Operator registers a fuel merchant and three of its stations");
  const merchant = (await app(KycService, url, ctx.systemAdminToken).createMerchant({
    name: "Eko Energy",
    registrationNumber: `RC-${randomUUID().slice(0, 8).toUpperCase()}`,
    contactEmail: "settlements@eko-energy.example",
  })).merchant!;
  show("merchant", { id: merchant.merchantId, name: merchant.name });
  const stations: Array<{ id: string; name: string; terminal: Client<typeof StationService>; token: string }> = [];
  for (const s of STATIONS) {
    const created = (await operator.createStation({
      merchantId: merchant.merchantId,
      name: `Eko Energy ${s.name}`,
      address: { line1: s.name, city: "Lagos", countryCode: "NG" },
      location: s.location,
      currency: "NGN",
      openingHours: { timeZone: "Africa/Lagos", alwaysOpen: true },
      pumps: [
        { label: "1", fuelTypes: [FuelType.PETROL, FuelType.DIESEL] },
        { label: "2", fuelTypes: [FuelType.PETROL] },
      ],
    })).station!;
    // Each station's POS terminal gets its own credential and signs in with it.
    const auth = app(AuthService, url, ctx.systemAdminToken);
    const cred = await auth.createMachineCredential({
      kind: MachineKind.POS_TERMINAL,
      stationId: created.stationId,
      merchantId: merchant.merchantId,
      label: `POS ${s.name}`,
    });
    const session = await app(AuthService, url).exchangeClientCredentials({ clientId: cred.credential!.clientId, clientSecret: cred.clientSecret });
    const terminal = app(StationService, url, session.accessToken);
    await terminal.updateFuelAvailability({
      stationId: created.stationId,
      updates: [
        { fuelType: FuelType.PETROL, inStock: true, priceMinorPerLitre: s.petrol, currency: "NGN" },
        { fuelType: FuelType.DIESEL, inStock: true, priceMinorPerLitre: s.diesel, currency: "NGN" },
      ],
    });
    stations.push({ id: created.stationId, name: created.name, terminal, token: session.accessToken });
    show("station", { name: created.name, petrol: naira(s.petrol), diesel: naira(s.diesel), postedBy: "its POS terminal" });
  }

  const driverApp = app(StationService, url, ctx.driverToken);
  step(n++, "Driver's app finds stations with petrol within 3 km, nearest first");
  const near = await driverApp.searchNearby({ location: DRIVER_AT, radiusM: 3_000, fuelType: FuelType.PETROL });
  for (const r of near.results) {
    const petrol = r.availability!.fuels.find((f) => f.fuelType === FuelType.PETROL)!;
    show(`${r.distanceM} m`, `${r.station!.name} — petrol ${naira(petrol.priceMinorPerLitre)}, ${r.availability!.openNow ? "open now" : "closed"}`);
  }
  const cheapest = await driverApp.searchNearby({ location: DRIVER_AT, radiusM: 10_000, fuelType: FuelType.PETROL, sort: NearbySort.PRICE, pageSize: 1 });
  const best = cheapest.results[0]!;
  show("cheapest petrol within 10 km", `${best.station!.name} at ${best.distanceM} m`);

  const watched = stations[0]!;
  step(n++, `Driver's app subscribes to live availability of ${watched.name}`);
  const ac = new AbortController();
  const events: Array<{ msg: WatchAvailabilityResponse; at: number }> = [];
  const waiter: { wake: (() => void) | null } = { wake: null };
  const reader = (async () => {
    try {
      for await (const msg of driverApp.watchAvailability({ target: { case: "stationId", value: watched.id } }, { signal: ac.signal })) {
        events.push({ msg, at: Date.now() });
        waiter.wake?.();
      }
    } catch (err) {
      if (!ac.signal.aborted) throw err;
    }
  })();
  const nextEvent = async (kind: WatchEventKind, timeoutMs = 5_000) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const i = events.findIndex((e) => e.msg.kind === kind);
      if (i >= 0) return events.splice(0, i + 1)[i]!;
      if (Date.now() > until) throw new Error(`no ${WatchEventKind[kind]} event within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 100);
        waiter.wake = () => (clearTimeout(t), r());
      });
    }
  };
  try {
    const snap = (await nextEvent(WatchEventKind.SNAPSHOT)).msg;
    show("snapshot", snap.fuels.map((f) => `${FuelType[f.fuelType]} ${naira(f.priceMinorPerLitre)}`).join(", "));

    step(n++, "The station's terminal raises the petrol price; the update arrives on the driver's stream");
    const t0 = Date.now();
    await watched.terminal.updateFuelAvailability({
      stationId: watched.id,
      updates: [{ fuelType: FuelType.PETROL, inStock: true, priceMinorPerLitre: 63_500n, currency: "NGN" }],
    });
    const { msg, at } = await nextEvent(WatchEventKind.UPDATE);
    const petrol = msg.fuels[0]!;
    show("live update", `${FuelType[petrol.fuelType]} now ${naira(petrol.priceMinorPerLitre)} (changed ${timestampDate(petrol.priceUpdateTime!).toISOString()})`);
    show("arrived after", `${at - t0} ms`);
    const history = await driverApp.getPriceHistory({ stationId: watched.id, fuelType: FuelType.PETROL });
    show("price history", history.entries.map((e) => (e.previousPriceMinorPerLitre === 0n ? `first ${naira(e.priceMinorPerLitre)}` : `${naira(e.previousPriceMinorPerLitre)} → ${naira(e.priceMinorPerLitre)}`)).join("; "));
  } finally {
    ac.abort();
    await reader;
  }
  return { merchantId: merchant.merchantId, stationId: watched.id, terminalToken: watched.token, nextStep: n };
}
