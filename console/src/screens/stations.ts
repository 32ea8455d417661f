// A merchant's stations as a list (no map): each fuel's price, stock, tank level and how
// fresh the report is, and a form to change a price.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Role, FuelTypeSchema, type FuelType } from "../../../gen/fuel/common/v1/common_pb.js";
import { StationService, StationStatusSchema, type FuelAvailability, type Station } from "../../../gen/fuel/station/v1/station_pb.js";
import { kyc, may, stations } from "../api.js";
import { emptyNote, field, form, h, panel, replace, table } from "../dom.js";
import { InputError } from "../errors.js";
import { ago, litres, minorAmount, named, parseAmount } from "../format.js";
import { session } from "../session.js";

const PAGE = 50;
/** A report older than this is marked stale. */
const STALE_MS = 24 * 3600_000;

export async function myStations(): Promise<Station[]> {
  const merchantId = session()?.principal.role === Role.MERCHANT_ADMIN ? session()!.principal.merchantId : "";
  return (await stations.listStations({ merchantId, pageSize: PAGE })).stations;
}

function fuelsOf(s: Station): FuelType[] {
  return [...new Set(s.pumps.flatMap((p) => p.fuelTypes))].sort();
}

function freshness(f: FuelAvailability): HTMLElement {
  const stale = !f.updateTime || Date.now() - timestampDate(f.updateTime).getTime() > STALE_MS;
  return h("span", { class: stale ? "badge stale" : "badge fresh" }, `${stale ? "stale · " : ""}${ago(f.updateTime)}`);
}

function stationCard(s: Station): HTMLElement {
  const avail = h("div");
  const load = () =>
    void panel(avail, () => stations.getAvailability({ stationId: s.stationId }), (r) => {
      const a = r.availability!;
      const price = a.fuels.length === 0
        ? emptyNote("No prices reported yet.")
        : table(["Fuel", "Price per litre", "In stock", "Tank level", "Reported"], a.fuels.map((f) => [named(FuelTypeSchema, f.fuelType), minorAmount(f.priceMinorPerLitre, f.currency), f.inStock ? "Yes" : "No", litres(f.levelMl), freshness(f)]));
      return [h("p", { class: "muted" }, a.openNow ? "Open now" : "Closed now"), price, changePrice(s, a.fuels, load)];
    });
  load();
  return h(
    "article",
    { class: "card station", "data-station": s.stationId },
    h("h2", null, s.name),
    h("p", { class: "muted" }, `${s.address?.line1 ?? ""}, ${s.address?.city ?? ""} · ${named(StationStatusSchema, s.status)} · prices in ${s.currency}`),
    avail,
  );
}

function changePrice(s: Station, current: FuelAvailability[], reload: () => void): HTMLElement | null {
  if (!may(StationService.method.updateFuelAvailability)) return null;
  const fuels = fuelsOf(s);
  const fuel = h("select", { name: "fuel" }, fuels.map((f) => h("option", { value: String(f) }, named(FuelTypeSchema, f))));
  const price = h("input", { name: "price", inputmode: "decimal", required: true, placeholder: "e.g. 950.00" });
  const inStock = h("input", { name: "inStock", type: "checkbox", checked: true });
  return h(
    "details",
    null,
    h("summary", null, "Change a price"),
    form({ class: "inline", "aria-label": `Change a price at ${s.name}` }, [field("Fuel", fuel), field(`Price per litre (${s.currency})`, price), field("In stock", inStock)], "Save the price", async (d) => {
      const minor = parseAmount(String(d.get("price") ?? ""), s.currency);
      if (minor === null || minor <= 0n) throw new InputError(`Enter the price as an amount in ${s.currency}, e.g. 950.00.`);
      const fuelType = Number(d.get("fuel")) as FuelType;
      const before = current.find((f) => f.fuelType === fuelType);
      await stations.updateFuelAvailability({
        stationId: s.stationId,
        updates: [{ fuelType, inStock: d.get("inStock") === "on", priceMinorPerLitre: minor, currency: s.currency, ...(before?.levelMl !== undefined ? { levelMl: before.levelMl } : {}) }],
      });
      reload();
    }),
  );
}

export function renderStations(main: HTMLElement): void {
  const list = h("div", { class: "stations" });
  replace(main, h("h1", null, "Stations & prices"), list);
  void panel(list, myStations, (all) => (all.length === 0 ? emptyNote("No stations yet.") : all.map(stationCard)));
}

/** Every role may list stations (drivers search them); the merchant's own record is for its admins. */
export const probeMerchant = () => kyc.getMerchant({ merchantId: session()?.principal.merchantId || "00000000-0000-4000-8000-000000000000" });
