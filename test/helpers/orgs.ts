// Organisations as operators create them, through the gateway over Connect JSON: banks,
// merchants and agencies (KycService, SYSTEM_ADMIN) and a merchant's stations
// (StationService). Credentials and staff users are bound to organisations that exist,
// so suites that issue them make the organisations first.
import { randomBytes, randomUUID } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { FuelType } from "../../gen/fuel/common/v1/common_pb.js";
import { KycService } from "../../gen/fuel/kyc/v1/kyc_pb.js";
import { StationService, type CreateStationRequestSchema } from "../../gen/fuel/station/v1/station_pb.js";
import { connectJson } from "./clients.js";
import { idem } from "./rpc.js";

const tag = () => randomBytes(4).toString("hex").toUpperCase();

export async function createBank(gatewayUrl: string, systemAdminToken: string, name = `Bank ${tag()}`): Promise<string> {
  const kyc = connectJson(KycService, gatewayUrl, systemAdminToken);
  return (await kyc.createBank({ name, code: `B${tag()}`, currency: "NGN" }, idem())).bank!.bankId;
}

export async function createMerchant(gatewayUrl: string, systemAdminToken: string, name = `Fuels ${tag()}`): Promise<string> {
  const kyc = connectJson(KycService, gatewayUrl, systemAdminToken);
  return (await kyc.createMerchant({ name, registrationNumber: `RC-${tag()}`, contactEmail: "ops@fuels.example" }, idem())).merchant!.merchantId;
}

export async function createAgency(gatewayUrl: string, systemAdminToken: string, name = `Haulage ${tag()}`): Promise<string> {
  const kyc = connectJson(KycService, gatewayUrl, systemAdminToken);
  const res = await kyc.createAgency(
    { name, registrationNumber: `RC-${tag()}`, contactEmail: "ops@haulage.example", contactPhone: "+2348020000000", address: "1 Wharf Road, Lagos", fleetSize: 10 },
    idem(),
  );
  return res.agency!.agencyId;
}

export type StationInit = MessageInitShape<typeof CreateStationRequestSchema>;

/** An always-open Lagos station selling petrol and diesel. */
export function stationInput(over: Record<string, unknown> = {}): StationInit {
  return {
    name: `Station ${randomUUID().slice(0, 8)}`,
    address: { line1: "1 Marina Road", city: "Lagos", countryCode: "NG" },
    location: { latitude: 6.45, longitude: 3.4 },
    currency: "NGN",
    openingHours: { timeZone: "Africa/Lagos", alwaysOpen: true },
    pumps: [{ label: "1", fuelTypes: [FuelType.PETROL, FuelType.DIESEL] }],
    ...over,
  } as StationInit;
}

/** A station of `merchantId`, created by `token` (its MERCHANT_ADMIN, or a SYSTEM_ADMIN). */
export async function createStation(gatewayUrl: string, token: string, merchantId: string, over: Record<string, unknown> = {}): Promise<string> {
  const stations = connectJson(StationService, gatewayUrl, token);
  return (await stations.createStation(stationInput({ merchantId, ...over }), idem())).station!.stationId;
}
