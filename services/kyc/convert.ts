// Rows → protobuf messages. Only masked PII ever leaves through here.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  AgencyMembershipSchema,
  AgencyMembershipStatus,
  AgencySchema,
  BankSchema,
  DocumentStatus,
  DriverSchema,
  KycDocumentSchema,
  KycOverallStatus,
  MerchantSchema,
  ProfileStatus,
  type Agency,
  type AgencyMembership,
  type Bank,
  type Driver,
  type KycDocument,
  type Merchant,
} from "../../gen/fuel/kyc/v1/kyc_pb.js";
import { maskPhone } from "../../platform/validate.js";
import type { AgencyRow, BankRow, DocumentRow, DriverRow, MembershipStatus, MerchantRow } from "./store.js";

const PROFILE_STATUS: Record<string, ProfileStatus> = {
  ACTIVE: ProfileStatus.ACTIVE,
  SUSPENDED: ProfileStatus.SUSPENDED,
  PENDING_USER: ProfileStatus.UNSPECIFIED,
};

export const DOC_STATUS: Record<DocumentRow["status"], DocumentStatus> = {
  PENDING: DocumentStatus.PENDING,
  APPROVED: DocumentStatus.APPROVED,
  REJECTED: DocumentStatus.REJECTED,
};

export const MEMBERSHIP_STATUS: Record<MembershipStatus, AgencyMembershipStatus> = {
  PENDING: AgencyMembershipStatus.PENDING,
  ACCEPTED: AgencyMembershipStatus.ACCEPTED,
  REJECTED: AgencyMembershipStatus.REJECTED,
};

export function membershipStatusName(s: AgencyMembershipStatus): MembershipStatus | null {
  if (s === AgencyMembershipStatus.PENDING) return "PENDING";
  if (s === AgencyMembershipStatus.ACCEPTED) return "ACCEPTED";
  if (s === AgencyMembershipStatus.REJECTED) return "REJECTED";
  return null;
}

function membershipToProto(r: DriverRow): AgencyMembership | undefined {
  if (!r.membership_agency_id || !r.membership_status || !r.membership_request_time) return undefined;
  return create(AgencyMembershipSchema, {
    agencyId: r.membership_agency_id,
    status: MEMBERSHIP_STATUS[r.membership_status],
    requestTime: timestampFromDate(r.membership_request_time),
    decidedBy: r.membership_decided_by ?? "",
    decideTime: r.membership_decide_time ? timestampFromDate(r.membership_decide_time) : undefined,
    reason: r.membership_reason,
  });
}

export function docStatusName(s: DocumentStatus): DocumentRow["status"] | null {
  if (s === DocumentStatus.PENDING) return "PENDING";
  if (s === DocumentStatus.APPROVED) return "APPROVED";
  if (s === DocumentStatus.REJECTED) return "REJECTED";
  return null;
}

export function driverToProto(r: DriverRow, kyc: KycOverallStatus): Driver {
  return create(DriverSchema, {
    driverId: r.driver_id,
    userId: r.user_id ?? "",
    fullName: r.full_name,
    phoneMasked: r.phone_masked,
    nationalIdMasked: r.national_id_masked,
    driverLicenseNumber: r.driver_license_number,
    vehicle: {
      plateNumber: r.plate_number,
      fuelType: r.fuel_type,
      tankCapacityMl: r.tank_capacity_ml,
      makeModel: r.make_model,
    },
    agencyId: r.agency_id ?? "",
    email: r.email,
    status: PROFILE_STATUS[r.status] ?? ProfileStatus.UNSPECIFIED,
    kycStatus: kyc,
    createTime: timestampFromDate(r.create_time),
    updateTime: timestampFromDate(r.update_time),
    agencyMembership: membershipToProto(r),
  });
}

export function agencyToProto(r: AgencyRow, kyc: KycOverallStatus): Agency {
  return create(AgencySchema, {
    agencyId: r.agency_id,
    name: r.name,
    registrationNumber: r.registration_number,
    contactEmail: r.contact_email,
    contactPhoneMasked: maskPhone(r.contact_phone),
    address: r.address,
    fleetSize: r.fleet_size,
    status: PROFILE_STATUS[r.status] ?? ProfileStatus.UNSPECIFIED,
    kycStatus: kyc,
    createTime: timestampFromDate(r.create_time),
    updateTime: timestampFromDate(r.update_time),
  });
}

export function bankToProto(r: BankRow): Bank {
  return create(BankSchema, { bankId: r.bank_id, name: r.name, code: r.code, currency: r.currency, createTime: timestampFromDate(r.create_time) });
}

export function merchantToProto(r: MerchantRow): Merchant {
  return create(MerchantSchema, {
    merchantId: r.merchant_id,
    name: r.name,
    registrationNumber: r.registration_number,
    contactEmail: r.contact_email,
    createTime: timestampFromDate(r.create_time),
  });
}

export function documentToProto(r: DocumentRow): KycDocument {
  return create(KycDocumentSchema, {
    documentId: r.document_id,
    owner: { owner: r.driver_id ? { case: "driverId", value: r.driver_id } : { case: "agencyId", value: r.agency_id ?? "" } },
    documentType: r.document_type,
    status: DOC_STATUS[r.status],
    contentType: r.content_type,
    sizeBytes: r.size_bytes,
    sha256Hex: r.sha256_hex,
    fileName: r.file_name,
    uploadedBy: r.uploaded_by,
    uploadTime: timestampFromDate(r.upload_time),
    reviewedBy: r.reviewed_by ?? "",
    reviewTime: r.review_time ? timestampFromDate(r.review_time) : undefined,
    reviewReason: r.review_reason,
  });
}
