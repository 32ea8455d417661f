// Agencies, banks and merchants: created by system admins, read by those bound to them
// (an agency admin their agency, a bank admin/system their bank, a merchant admin their
// merchant) and by system admins and services; lists are by name with keyset pages.
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { Role } from "../../gen/fuel/common/v1/common_pb.js";
import {
  CreateAgencyResponseSchema,
  CreateBankResponseSchema,
  CreateMerchantResponseSchema,
  GetAgencyResponseSchema,
  GetBankResponseSchema,
  GetMerchantResponseSchema,
  KycOverallStatus,
  ListAgenciesResponseSchema,
  ListBanksResponseSchema,
  ListMerchantsResponseSchema,
  UpdateAgencyProfileResponseSchema,
  type CreateAgencyRequest,
  type CreateBankRequest,
  type CreateMerchantRequest,
  type GetAgencyRequest,
  type GetBankRequest,
  type GetMerchantRequest,
  type ListAgenciesRequest,
  type ListBanksRequest,
  type ListMerchantsRequest,
  type UpdateAgencyProfileRequest,
} from "../../gen/fuel/kyc/v1/kyc_pb.js";
import { sqlState, UNIQUE_VIOLATION } from "../../platform/db.js";
import { alreadyExists, notFound } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { agencyVisible, callerOf, isAgencyAdminOf, isSystemAdmin, type Caller } from "./access.js";
import { agencyToProto, bankToProto, merchantToProto } from "./convert.js";
import { overallOf } from "./status.js";
import * as store from "./store.js";
import * as val from "./validation.js";

async function uniqueOr<T>(fn: () => Promise<T>, reason: string, message: string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (sqlState(err) === UNIQUE_VIOLATION) throw alreadyExists(reason, message);
    throw err;
  }
}

function namePage(req: { pageSize: number; pageToken: string }) {
  const limit = v.pageSize(req.pageSize);
  const token = v.decodePageToken(req.pageToken, ["name", "id"]);
  if (token) v.uuid("page_token", token.id);
  return { limit, after: token ? { name: token.name, id: token.id } : null };
}

function nextToken<R>(rows: R[], limit: number, key: (r: R) => { name: string; id: string }): string {
  return rows.length > limit ? v.encodePageToken(key(rows[limit - 1]!)) : "";
}

// ---------------------------------------------------------------- agencies

async function agenciesWithKyc(deps: ServiceDeps, rows: store.AgencyRow[]) {
  const overall = await overallOf(deps.pool, "agency", rows.map((r) => r.agency_id));
  return rows.map((r) => agencyToProto(r, overall.get(r.agency_id)?.overall ?? KycOverallStatus.NOT_STARTED));
}

export const createAgency = (deps: ServiceDeps) => async (req: CreateAgencyRequest) => {
  const row = {
    agency_id: randomUUID(),
    name: val.orgName("name", req.name),
    registration_number: val.registrationNumber("registration_number", req.registrationNumber),
    contact_email: val.requiredEmail("contact_email", req.contactEmail),
    contact_phone: v.phone("contact_phone", req.contactPhone.trim()),
    address: val.address("address", req.address),
    fleet_size: val.fleetSize("fleet_size", req.fleetSize),
    create_time: deps.now(),
  };
  const saved = await uniqueOr(() => store.insertAgency(deps.pool, row), "REGISTRATION_NUMBER_TAKEN", "an agency with this registration number exists");
  return create(CreateAgencyResponseSchema, { agency: agencyToProto(saved, KycOverallStatus.NOT_STARTED) });
};

export const getAgency = (deps: ServiceDeps) => async (req: GetAgencyRequest, ctx: HandlerContext) => {
  const agencyId = v.uuid("agency_id", req.agencyId);
  const row = agencyVisible(callerOf(ctx), agencyId) ? await store.getAgency(deps.pool, agencyId) : undefined;
  if (!row) throw notFound("agency");
  const [agency] = await agenciesWithKyc(deps, [row]);
  return create(GetAgencyResponseSchema, { agency });
};

export const listAgencies = (deps: ServiceDeps) => async (req: ListAgenciesRequest) => {
  const { limit, after } = namePage(req);
  const rows = await store.listAgencies(deps.pool, after, limit + 1);
  return create(ListAgenciesResponseSchema, {
    agencies: await agenciesWithKyc(deps, rows.slice(0, limit)),
    nextPageToken: nextToken(rows, limit, (r) => ({ name: r.name, id: r.agency_id })),
  });
};

export const updateAgencyProfile = (deps: ServiceDeps) => async (req: UpdateAgencyProfileRequest, ctx: HandlerContext) => {
  const agencyId = v.uuid("agency_id", req.agencyId);
  const patch: store.AgencyPatch = {};
  if (req.name !== undefined) patch.name = val.orgName("name", req.name);
  if (req.contactEmail !== undefined) patch.contactEmail = val.requiredEmail("contact_email", req.contactEmail);
  if (req.contactPhone !== undefined) patch.contactPhone = v.phone("contact_phone", req.contactPhone.trim());
  if (req.address !== undefined) patch.address = val.address("address", req.address);
  if (req.fleetSize !== undefined) patch.fleetSize = val.fleetSize("fleet_size", req.fleetSize);
  const c = callerOf(ctx);
  if (!isSystemAdmin(c) && !isAgencyAdminOf(c, agencyId)) throw notFound("agency");
  const row = await store.updateAgency(deps.pool, agencyId, patch, deps.now());
  if (!row) throw notFound("agency");
  const [agency] = await agenciesWithKyc(deps, [row]);
  return create(UpdateAgencyProfileResponseSchema, { agency });
};

// ---------------------------------------------------------------- banks

function bankVisible(c: Caller, bankId: string): boolean {
  if (c.isService || isSystemAdmin(c)) return true;
  const p = c.principal;
  return !!p && (p.role === Role.BANK_ADMIN || p.role === Role.BANK_SYSTEM) && p.bankId === bankId;
}

export const createBank = (deps: ServiceDeps) => async (req: CreateBankRequest) => {
  const row: store.BankRow = {
    bank_id: randomUUID(),
    name: val.orgName("name", req.name),
    code: val.bankCode("code", req.code),
    currency: v.currency("currency", req.currency),
    create_time: deps.now(),
  };
  const saved = await uniqueOr(() => store.insertBank(deps.pool, row), "BANK_CODE_TAKEN", "a bank with this code exists");
  return create(CreateBankResponseSchema, { bank: bankToProto(saved) });
};

export const getBank = (deps: ServiceDeps) => async (req: GetBankRequest, ctx: HandlerContext) => {
  const bankId = v.uuid("bank_id", req.bankId);
  const row = bankVisible(callerOf(ctx), bankId) ? await store.getBank(deps.pool, bankId) : undefined;
  if (!row) throw notFound("bank");
  return create(GetBankResponseSchema, { bank: bankToProto(row) });
};

export const listBanks = (deps: ServiceDeps) => async (req: ListBanksRequest) => {
  const { limit, after } = namePage(req);
  const rows = await store.listBanks(deps.pool, after, limit + 1);
  return create(ListBanksResponseSchema, {
    banks: rows.slice(0, limit).map(bankToProto),
    nextPageToken: nextToken(rows, limit, (r) => ({ name: r.name, id: r.bank_id })),
  });
};

// ---------------------------------------------------------------- merchants

function merchantVisible(c: Caller, merchantId: string): boolean {
  if (c.isService || isSystemAdmin(c)) return true;
  const p = c.principal;
  return !!p && p.role === Role.MERCHANT_ADMIN && p.merchantId === merchantId;
}

export const createMerchant = (deps: ServiceDeps) => async (req: CreateMerchantRequest) => {
  const row: store.MerchantRow = {
    merchant_id: randomUUID(),
    name: val.orgName("name", req.name),
    registration_number: val.registrationNumber("registration_number", req.registrationNumber),
    contact_email: val.requiredEmail("contact_email", req.contactEmail),
    create_time: deps.now(),
  };
  const saved = await uniqueOr(() => store.insertMerchant(deps.pool, row), "REGISTRATION_NUMBER_TAKEN", "a merchant with this registration number exists");
  return create(CreateMerchantResponseSchema, { merchant: merchantToProto(saved) });
};

export const getMerchant = (deps: ServiceDeps) => async (req: GetMerchantRequest, ctx: HandlerContext) => {
  const merchantId = v.uuid("merchant_id", req.merchantId);
  const row = merchantVisible(callerOf(ctx), merchantId) ? await store.getMerchant(deps.pool, merchantId) : undefined;
  if (!row) throw notFound("merchant");
  return create(GetMerchantResponseSchema, { merchant: merchantToProto(row) });
};

export const listMerchants = (deps: ServiceDeps) => async (req: ListMerchantsRequest) => {
  const { limit, after } = namePage(req);
  const rows = await store.listMerchants(deps.pool, after, limit + 1);
  return create(ListMerchantsResponseSchema, {
    merchants: rows.slice(0, limit).map(merchantToProto),
    nextPageToken: nextToken(rows, limit, (r) => ({ name: r.name, id: r.merchant_id })),
  });
};
