// KycService SQL. Every table is schema-qualified (kyc.*); no search_path, no SET.
import { many, one, sqlEpochMs, type Pool, type Tx } from "../../platform/db.js";

type Db = Pool | Tx;

// ---------------------------------------------------------------- drivers

export interface DriverRow {
  driver_id: string;
  seq: bigint;
  user_id: string | null;
  full_name: string;
  phone_index: string;
  phone_masked: string;
  national_id_index: string;
  national_id_masked: string;
  driver_license_number: string;
  plate_number: string;
  fuel_type: number;
  tank_capacity_ml: bigint;
  make_model: string;
  /** The agency the driver is a member of: set only by that agency's acceptance. */
  agency_id: string | null;
  email: string;
  status: "PENDING_USER" | "ACTIVE" | "SUSPENDED";
  create_time: Date;
  update_time: Date;
  /** The latest request to join an agency (all null if none). */
  membership_agency_id: string | null;
  membership_status: MembershipStatus | null;
  membership_request_time: Date | null;
  membership_decided_by: string | null;
  membership_decide_time: Date | null;
  membership_reason: string;
}

export type MembershipStatus = "PENDING" | "ACCEPTED" | "REJECTED";

const DRIVER_COLS = `driver_id, seq, user_id, full_name, phone_index, phone_masked, national_id_index,
  national_id_masked, driver_license_number, plate_number, fuel_type, tank_capacity_ml, make_model,
  agency_id, email, status, create_time, update_time, membership_agency_id, membership_status,
  membership_request_time, membership_decided_by, membership_decide_time, membership_reason`;

export interface NewDriver {
  driverId: string;
  fullName: string;
  phoneIndex: string;
  phoneCipher: Buffer;
  phoneMasked: string;
  nationalIdIndex: string;
  nationalIdCipher: Buffer;
  nationalIdMasked: string;
  driverLicenseNumber: string;
  plateNumber: string;
  fuelType: number;
  tankCapacityMl: bigint;
  makeModel: string;
  /** The agency the driver asks to join; never a membership by itself. */
  requestedAgencyId: string | null;
  email: string;
  now: Date;
}

export async function insertPendingDriver(db: Db, d: NewDriver): Promise<DriverRow> {
  return (await one<DriverRow>(
    db,
    `INSERT INTO kyc.drivers (driver_id, full_name, phone_index, phone_cipher, phone_masked, national_id_index,
       national_id_cipher, national_id_masked, driver_license_number, plate_number, fuel_type, tank_capacity_ml,
       make_model, membership_agency_id, membership_status, membership_request_time, email, status, create_time, update_time)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14::uuid,
       CASE WHEN $14::uuid IS NULL THEN NULL ELSE 'PENDING' END, CASE WHEN $14::uuid IS NULL THEN NULL ELSE $16::timestamptz END,
       $15,'PENDING_USER',$16,$16)
     RETURNING ${DRIVER_COLS}`,
    [d.driverId, d.fullName, d.phoneIndex, d.phoneCipher, d.phoneMasked, d.nationalIdIndex, d.nationalIdCipher,
      d.nationalIdMasked, d.driverLicenseNumber, d.plateNumber, d.fuelType, d.tankCapacityMl, d.makeModel,
      d.requestedAgencyId, d.email, d.now],
  ))!;
}

/** A retried onboarding refreshes the still-pending row with the latest request. */
export async function refreshPendingDriver(db: Db, d: NewDriver): Promise<DriverRow | undefined> {
  return await one<DriverRow>(
    db,
    `UPDATE kyc.drivers SET full_name=$2, national_id_index=$3, national_id_cipher=$4, national_id_masked=$5,
       driver_license_number=$6, plate_number=$7, fuel_type=$8, tank_capacity_ml=$9, make_model=$10,
       membership_agency_id=$11::uuid, membership_status = CASE WHEN $11::uuid IS NULL THEN NULL ELSE 'PENDING' END,
       membership_request_time = CASE WHEN $11::uuid IS NULL THEN NULL ELSE $13::timestamptz END,
       email=$12, update_time=$13
     WHERE driver_id=$1 AND status='PENDING_USER'
     RETURNING ${DRIVER_COLS}`,
    [d.driverId, d.fullName, d.nationalIdIndex, d.nationalIdCipher, d.nationalIdMasked, d.driverLicenseNumber,
      d.plateNumber, d.fuelType, d.tankCapacityMl, d.makeModel, d.requestedAgencyId, d.email, d.now],
  );
}

export async function activateDriver(db: Db, driverId: string, userId: string, now: Date): Promise<DriverRow | undefined> {
  // Idempotent: an already active row with the same user is returned as is.
  return await one<DriverRow>(
    db,
    `UPDATE kyc.drivers SET status = 'ACTIVE', user_id = $2,
       update_time = CASE WHEN status = 'PENDING_USER' THEN $3 ELSE update_time END
     WHERE driver_id = $1 AND (status = 'PENDING_USER' OR user_id = $2)
     RETURNING ${DRIVER_COLS}`,
    [driverId, userId, now],
  );
}

export async function driverByPhoneIndex(db: Db, phoneIndex: string): Promise<DriverRow | undefined> {
  return await one<DriverRow>(db, `SELECT ${DRIVER_COLS} FROM kyc.drivers WHERE phone_index = $1`, [phoneIndex]);
}

/** An onboarded (not pending) driver. */
export async function getDriver(db: Db, driverId: string): Promise<DriverRow | undefined> {
  return await one<DriverRow>(
    db,
    `SELECT ${DRIVER_COLS} FROM kyc.drivers WHERE driver_id = $1 AND status <> 'PENDING_USER'`,
    [driverId],
  );
}

/**
 * An onboarded driver with the latest document of each type (what its overall KYC status
 * needs), in one round trip: GetDriver runs on every authorization and QR. The documents
 * come as one JSON array; review times as epoch ms (sqlEpochMs), seq as text.
 */
export async function getDriverWithDocFacts(db: Db, driverId: string): Promise<{ driver: DriverRow; facts: DocFact[] } | undefined> {
  const row = await one<DriverRow & { doc_facts: Array<{ document_type: number; status: DocumentRow["status"]; seq: string; review_ms: number | null }> }>(
    db,
    `SELECT ${DRIVER_COLS},
       (SELECT coalesce(json_agg(json_build_object('document_type', d.document_type, 'status', d.status, 'seq', d.seq::text,
                 'review_ms', ${sqlEpochMs("d.review_time")})), '[]'::json)
        FROM (SELECT DISTINCT ON (document_type) document_type, status, seq, review_time
              FROM kyc.documents WHERE driver_id = $1 ORDER BY document_type, seq DESC) d) AS doc_facts
     FROM kyc.drivers WHERE driver_id = $1 AND status <> 'PENDING_USER'`,
    [driverId],
  );
  if (!row) return undefined;
  const { doc_facts, ...driver } = row;
  return {
    driver,
    facts: doc_facts.map((f) => ({
      document_type: f.document_type, status: f.status, seq: BigInt(f.seq),
      review_time: f.review_ms === null ? null : new Date(f.review_ms),
    })),
  };
}

/**
 * Drivers newest first. Without `membershipStatus`, `agencyId` selects the agency's
 * members; with it, the drivers whose latest request (to `agencyId`, when set) is in
 * that state.
 */
export async function listDrivers(db: Db, opts: { agencyId: string | null; membershipStatus: MembershipStatus | null; driverId: string | null; afterSeq: bigint | null; limit: number }): Promise<DriverRow[]> {
  return await many<DriverRow>(
    db,
    `SELECT ${DRIVER_COLS} FROM kyc.drivers
     WHERE status <> 'PENDING_USER'
       AND ($1::uuid IS NULL OR ($5::text IS NULL AND agency_id = $1) OR ($5::text IS NOT NULL AND membership_agency_id = $1))
       AND ($5::text IS NULL OR membership_status = $5)
       AND ($2::uuid IS NULL OR driver_id = $2)
       AND ($3::bigint IS NULL OR seq < $3)
     ORDER BY seq DESC LIMIT $4`,
    [opts.agencyId, opts.driverId, opts.afterSeq, opts.limit, opts.membershipStatus],
  );
}

export interface DriverPatch {
  fullName?: string;
  email?: string;
  driverLicenseNumber?: string;
  vehicle?: { plateNumber: string; fuelType: number; tankCapacityMl: bigint; makeModel: string };
  /** A new request to join this agency; null withdraws the request. */
  requestedAgencyId?: string | null;
}

/**
 * Applies a patch to an onboarded driver. A patch that changes the membership request
 * matches only a driver who is not a member (no row otherwise: the caller tells a member
 * from a missing driver); a new request starts PENDING with nothing decided.
 */
export async function updateDriver(db: Db, driverId: string, p: DriverPatch, now: Date): Promise<DriverRow | undefined> {
  const request = p.requestedAgencyId !== undefined;
  return await one<DriverRow>(
    db,
    `UPDATE kyc.drivers SET
       full_name = COALESCE($2, full_name),
       email = COALESCE($3, email),
       driver_license_number = COALESCE($4, driver_license_number),
       plate_number = COALESCE($5, plate_number),
       fuel_type = COALESCE($6, fuel_type),
       tank_capacity_ml = COALESCE($7, tank_capacity_ml),
       make_model = COALESCE($8, make_model),
       membership_agency_id = CASE WHEN $10 THEN $11::uuid ELSE membership_agency_id END,
       membership_status = CASE WHEN NOT $10 THEN membership_status WHEN $11::uuid IS NULL THEN NULL ELSE 'PENDING' END,
       membership_request_time = CASE WHEN NOT $10 THEN membership_request_time WHEN $11::uuid IS NULL THEN NULL ELSE $9 END,
       membership_decided_by = CASE WHEN $10 THEN NULL ELSE membership_decided_by END,
       membership_decide_time = CASE WHEN $10 THEN NULL ELSE membership_decide_time END,
       membership_reason = CASE WHEN $10 THEN '' ELSE membership_reason END,
       update_time = $9
     WHERE driver_id = $1 AND status <> 'PENDING_USER' AND (NOT $10 OR agency_id IS NULL)
     RETURNING ${DRIVER_COLS}`,
    [driverId, p.fullName ?? null, p.email ?? null, p.driverLicenseNumber ?? null, p.vehicle?.plateNumber ?? null,
      p.vehicle?.fuelType ?? null, p.vehicle?.tankCapacityMl ?? null, p.vehicle?.makeModel ?? null, now,
      request, p.requestedAgencyId ?? null],
  );
}

/**
 * Records an agency's decision on a driver's request, only while that request is PENDING
 * and names `agencyId`: of two concurrent decisions (or a decision racing a new request)
 * exactly one UPDATE matches. Accepting makes the driver a member.
 */
export async function decideMembership(db: Db, d: { driverId: string; agencyId: string; status: "ACCEPTED" | "REJECTED"; decidedBy: string; reason: string; now: Date }): Promise<DriverRow | undefined> {
  return await one<DriverRow>(
    db,
    `UPDATE kyc.drivers SET membership_status = $3, membership_decided_by = $4, membership_reason = $5,
       membership_decide_time = $6, update_time = $6,
       agency_id = CASE WHEN $3 = 'ACCEPTED' THEN membership_agency_id ELSE agency_id END
     WHERE driver_id = $1 AND membership_agency_id = $2 AND membership_status = 'PENDING' AND status <> 'PENDING_USER'
     RETURNING ${DRIVER_COLS}`,
    [d.driverId, d.agencyId, d.status, d.decidedBy, d.reason, d.now],
  );
}

// ---------------------------------------------------------------- agencies, banks, merchants

export interface AgencyRow {
  agency_id: string;
  name: string;
  registration_number: string;
  contact_email: string;
  contact_phone: string;
  address: string;
  fleet_size: number;
  status: "ACTIVE" | "SUSPENDED";
  create_time: Date;
  update_time: Date;
}
const AGENCY_COLS = `agency_id, name, registration_number, contact_email, contact_phone, address, fleet_size, status, create_time, update_time`;

export async function insertAgency(db: Db, a: Omit<AgencyRow, "status" | "update_time">): Promise<AgencyRow> {
  return (await one<AgencyRow>(
    db,
    `INSERT INTO kyc.agencies (agency_id, name, registration_number, contact_email, contact_phone, address, fleet_size, create_time, update_time)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$8) RETURNING ${AGENCY_COLS}`,
    [a.agency_id, a.name, a.registration_number, a.contact_email, a.contact_phone, a.address, a.fleet_size, a.create_time],
  ))!;
}

export async function getAgency(db: Db, agencyId: string): Promise<AgencyRow | undefined> {
  return await one<AgencyRow>(db, `SELECT ${AGENCY_COLS} FROM kyc.agencies WHERE agency_id = $1`, [agencyId]);
}

export async function agencyExists(db: Db, agencyId: string): Promise<boolean> {
  return !!(await one(db, `SELECT 1 FROM kyc.agencies WHERE agency_id = $1`, [agencyId]));
}

export async function listAgencies(db: Db, after: { name: string; id: string } | null, limit: number): Promise<AgencyRow[]> {
  return await many<AgencyRow>(
    db,
    `SELECT ${AGENCY_COLS} FROM kyc.agencies
     WHERE ($1::text IS NULL OR (name, agency_id) > ($1::text, $2::uuid))
     ORDER BY name, agency_id LIMIT $3`,
    [after?.name ?? null, after?.id ?? null, limit],
  );
}

export interface AgencyPatch {
  name?: string;
  contactEmail?: string;
  contactPhone?: string;
  address?: string;
  fleetSize?: number;
}

export async function updateAgency(db: Db, agencyId: string, p: AgencyPatch, now: Date): Promise<AgencyRow | undefined> {
  return await one<AgencyRow>(
    db,
    `UPDATE kyc.agencies SET
       name = COALESCE($2, name), contact_email = COALESCE($3, contact_email),
       contact_phone = COALESCE($4, contact_phone), address = COALESCE($5, address),
       fleet_size = COALESCE($6, fleet_size), update_time = $7
     WHERE agency_id = $1 RETURNING ${AGENCY_COLS}`,
    [agencyId, p.name ?? null, p.contactEmail ?? null, p.contactPhone ?? null, p.address ?? null, p.fleetSize ?? null, now],
  );
}

export interface BankRow {
  bank_id: string;
  name: string;
  code: string;
  currency: string;
  create_time: Date;
}

export async function insertBank(db: Db, b: BankRow): Promise<BankRow> {
  return (await one<BankRow>(
    db,
    `INSERT INTO kyc.banks (bank_id, name, code, currency, create_time) VALUES ($1,$2,$3,$4,$5)
     RETURNING bank_id, name, code, currency, create_time`,
    [b.bank_id, b.name, b.code, b.currency, b.create_time],
  ))!;
}

export async function getBank(db: Db, bankId: string): Promise<BankRow | undefined> {
  return await one<BankRow>(db, `SELECT bank_id, name, code, currency, create_time FROM kyc.banks WHERE bank_id = $1`, [bankId]);
}

export async function listBanks(db: Db, after: { name: string; id: string } | null, limit: number): Promise<BankRow[]> {
  return await many<BankRow>(
    db,
    `SELECT bank_id, name, code, currency, create_time FROM kyc.banks
     WHERE ($1::text IS NULL OR (name, bank_id) > ($1::text, $2::uuid))
     ORDER BY name, bank_id LIMIT $3`,
    [after?.name ?? null, after?.id ?? null, limit],
  );
}

export interface MerchantRow {
  merchant_id: string;
  name: string;
  registration_number: string;
  contact_email: string;
  create_time: Date;
}

export async function insertMerchant(db: Db, m: MerchantRow): Promise<MerchantRow> {
  return (await one<MerchantRow>(
    db,
    `INSERT INTO kyc.merchants (merchant_id, name, registration_number, contact_email, create_time) VALUES ($1,$2,$3,$4,$5)
     RETURNING merchant_id, name, registration_number, contact_email, create_time`,
    [m.merchant_id, m.name, m.registration_number, m.contact_email, m.create_time],
  ))!;
}

export async function getMerchant(db: Db, merchantId: string): Promise<MerchantRow | undefined> {
  return await one<MerchantRow>(
    db,
    `SELECT merchant_id, name, registration_number, contact_email, create_time FROM kyc.merchants WHERE merchant_id = $1`,
    [merchantId],
  );
}

export async function listMerchants(db: Db, after: { name: string; id: string } | null, limit: number): Promise<MerchantRow[]> {
  return await many<MerchantRow>(
    db,
    `SELECT merchant_id, name, registration_number, contact_email, create_time FROM kyc.merchants
     WHERE ($1::text IS NULL OR (name, merchant_id) > ($1::text, $2::uuid))
     ORDER BY name, merchant_id LIMIT $3`,
    [after?.name ?? null, after?.id ?? null, limit],
  );
}

// ---------------------------------------------------------------- documents

export interface DocumentRow {
  document_id: string;
  seq: bigint;
  driver_id: string | null;
  agency_id: string | null;
  document_type: number;
  status: "PENDING" | "APPROVED" | "REJECTED";
  content_type: string;
  size_bytes: bigint;
  sha256_hex: string;
  file_name: string;
  storage_backend: string;
  storage_key: string;
  uploaded_by: string;
  upload_time: Date;
  reviewed_by: string | null;
  review_time: Date | null;
  review_reason: string;
}
const DOC_COLS = `document_id, seq, driver_id, agency_id, document_type, status, content_type, size_bytes, sha256_hex,
  file_name, storage_backend, storage_key, uploaded_by, upload_time, reviewed_by, review_time, review_reason`;

export type OwnerRef = { kind: "driver" | "agency"; id: string };

export async function insertDocument(db: Db, d: Omit<DocumentRow, "seq" | "status" | "reviewed_by" | "review_time" | "review_reason">): Promise<DocumentRow> {
  return (await one<DocumentRow>(
    db,
    `INSERT INTO kyc.documents (document_id, driver_id, agency_id, document_type, content_type, size_bytes, sha256_hex,
       file_name, storage_backend, storage_key, uploaded_by, upload_time)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) RETURNING ${DOC_COLS}`,
    [d.document_id, d.driver_id, d.agency_id, d.document_type, d.content_type, d.size_bytes, d.sha256_hex, d.file_name,
      d.storage_backend, d.storage_key, d.uploaded_by, d.upload_time],
  ))!;
}

export async function getDocument(db: Db, documentId: string): Promise<DocumentRow | undefined> {
  return await one<DocumentRow>(db, `SELECT ${DOC_COLS} FROM kyc.documents WHERE document_id = $1`, [documentId]);
}

export async function listDocuments(db: Db, owner: OwnerRef, opts: { status: string | null; beforeSeq: bigint | null; limit: number }): Promise<DocumentRow[]> {
  const col = owner.kind === "driver" ? "driver_id" : "agency_id";
  return await many<DocumentRow>(
    db,
    `SELECT ${DOC_COLS} FROM kyc.documents
     WHERE ${col} = $1 AND ($2::text IS NULL OR status = $2) AND ($3::bigint IS NULL OR seq < $3)
     ORDER BY seq DESC LIMIT $4`,
    [owner.id, opts.status, opts.beforeSeq, opts.limit],
  );
}

/** The latest document of one type: what the overall status needs of it. */
export interface DocFact {
  document_type: number;
  status: DocumentRow["status"];
  seq: bigint;
  review_time: Date | null;
}

export interface DocFactRow extends DocFact {
  owner_id: string;
}

/** The latest document of each type for each owner (what the overall status needs). */
export async function latestDocFacts(db: Db, kind: OwnerRef["kind"], ownerIds: string[]): Promise<DocFactRow[]> {
  if (ownerIds.length === 0) return [];
  const col = kind === "driver" ? "driver_id" : "agency_id";
  return await many<DocFactRow>(
    db,
    `SELECT DISTINCT ON (${col}, document_type) ${col}::text AS owner_id, document_type, status, seq, review_time
     FROM kyc.documents WHERE ${col} = ANY($1::uuid[])
     ORDER BY ${col}, document_type, seq DESC`,
    [ownerIds],
  );
}

export async function countByStatus(db: Db, owner: OwnerRef): Promise<Record<DocumentRow["status"], number>> {
  const col = owner.kind === "driver" ? "driver_id" : "agency_id";
  const rows = await many<{ status: DocumentRow["status"]; n: number }>(
    db,
    `SELECT status, count(*)::int AS n FROM kyc.documents WHERE ${col} = $1 GROUP BY status`,
    [owner.id],
  );
  const out = { PENDING: 0, APPROVED: 0, REJECTED: 0 };
  for (const r of rows) out[r.status] = r.n;
  return out;
}

/**
 * Records a decision only if the document is still PENDING: of two concurrent reviews
 * exactly one UPDATE matches; the other gets no row and reports DOCUMENT_ALREADY_REVIEWED.
 */
export async function decideDocument(db: Db, documentId: string, status: "APPROVED" | "REJECTED", reviewer: string, reason: string, now: Date): Promise<DocumentRow | undefined> {
  return await one<DocumentRow>(
    db,
    `UPDATE kyc.documents SET status = $2, reviewed_by = $3, review_reason = $4, review_time = $5
     WHERE document_id = $1 AND status = 'PENDING' RETURNING ${DOC_COLS}`,
    [documentId, status, reviewer, reason, now],
  );
}

export async function driverUserId(db: Db, driverId: string): Promise<string | null> {
  const r = await one<{ user_id: string | null }>(db, `SELECT user_id FROM kyc.drivers WHERE driver_id = $1`, [driverId]);
  return r?.user_id ?? null;
}
