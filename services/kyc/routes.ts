// Registers KycService: one file per RPC or small group, wired here.
import type { ConnectRouter } from "@connectrpc/connect";
import { KycService } from "../../gen/fuel/kyc/v1/kyc_pb.js";
import { outboxStatus } from "../../platform/outbox-status.js";
import type { KycContext } from "./context.js";
import { getDocumentContent, listDocuments, uploadDocument } from "./documents.js";
import { getDriver, listDrivers, updateDriverProfile } from "./drivers.js";
import { decideAgencyMembership } from "./membership.js";
import { onboardDriver } from "./onboard.js";
import {
  createAgency,
  createBank,
  createMerchant,
  getAgency,
  getBank,
  getMerchant,
  listAgencies,
  listBanks,
  listMerchants,
  updateAgencyProfile,
} from "./organisations.js";
import { verifyDocument } from "./review.js";
import { getKycStatus } from "./status.js";

export function routes(router: ConnectRouter, deps: KycContext): void {
  const { pii, storage } = deps;
  router.service(KycService, {
    onboardDriver: onboardDriver(deps, pii),
    getDriver: getDriver(deps),
    listDrivers: listDrivers(deps),
    updateDriverProfile: updateDriverProfile(deps),
    decideAgencyMembership: decideAgencyMembership(deps),
    createAgency: createAgency(deps),
    getAgency: getAgency(deps),
    listAgencies: listAgencies(deps),
    updateAgencyProfile: updateAgencyProfile(deps),
    createBank: createBank(deps),
    getBank: getBank(deps),
    listBanks: listBanks(deps),
    createMerchant: createMerchant(deps),
    getMerchant: getMerchant(deps),
    listMerchants: listMerchants(deps),
    uploadDocument: uploadDocument(deps, storage),
    listDocuments: listDocuments(deps),
    getDocumentContent: getDocumentContent(deps, storage),
    getKycStatus: getKycStatus(deps),
    verifyDocument: verifyDocument(deps),
    getOutboxStatus: async () => ({ status: await outboxStatus(deps.relay) }),
  });
}
