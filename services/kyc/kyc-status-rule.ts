// The overall KYC status of an owner, from their documents. Pure: no I/O.
//
// Only the latest document (highest upload sequence) of each required type counts:
//   - no document at all                      → NOT_STARTED
//   - the latest of some required type is REJECTED → REJECTED
//   - the latest of every required type is APPROVED → VERIFIED
//   - otherwise (something missing or pending)  → PENDING
// `missing` lists the required types whose latest document is not approved (so it is
// empty exactly when the owner is VERIFIED).
import { DocumentStatus, DocumentType, KycOverallStatus } from "../../gen/fuel/kyc/v1/kyc_pb.js";

export const DRIVER_REQUIRED: readonly DocumentType[] = [
  DocumentType.NATIONAL_ID,
  DocumentType.DRIVER_LICENSE,
  DocumentType.VEHICLE_REGISTRATION,
];
export const AGENCY_REQUIRED: readonly DocumentType[] = [
  DocumentType.BUSINESS_REGISTRATION,
  DocumentType.TAX_CERTIFICATE,
];

export interface DocFact {
  type: DocumentType;
  status: DocumentStatus;
  /** Upload order; the highest is the latest. */
  seq: bigint;
  reviewTime: Date | null;
}

export interface OverallResult {
  overall: KycOverallStatus;
  missing: DocumentType[];
  /** When the owner became VERIFIED (the last approval among the latest documents). */
  verifiedTime: Date | null;
}

export function latestPerType(docs: readonly DocFact[]): Map<DocumentType, DocFact> {
  const latest = new Map<DocumentType, DocFact>();
  for (const d of docs) {
    const cur = latest.get(d.type);
    if (!cur || d.seq > cur.seq) latest.set(d.type, d);
  }
  return latest;
}

export function overallStatus(required: readonly DocumentType[], docs: readonly DocFact[]): OverallResult {
  if (docs.length === 0) return { overall: KycOverallStatus.NOT_STARTED, missing: [...required], verifiedTime: null };
  const latest = latestPerType(docs);
  const missing = required.filter((t) => latest.get(t)?.status !== DocumentStatus.APPROVED);
  if (required.some((t) => latest.get(t)?.status === DocumentStatus.REJECTED)) {
    return { overall: KycOverallStatus.REJECTED, missing, verifiedTime: null };
  }
  if (missing.length === 0) {
    let verifiedTime: Date | null = null;
    for (const t of required) {
      const rt = latest.get(t)!.reviewTime;
      if (rt && (!verifiedTime || rt > verifiedTime)) verifiedTime = rt;
    }
    return { overall: KycOverallStatus.VERIFIED, missing, verifiedTime };
  }
  return { overall: KycOverallStatus.PENDING, missing, verifiedTime: null };
}

/** Which document types belong to which owner kind. */
export function requiredFor(kind: "driver" | "agency"): readonly DocumentType[] {
  return kind === "driver" ? DRIVER_REQUIRED : AGENCY_REQUIRED;
}
