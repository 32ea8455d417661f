// KycService documents end to end, through the gateway as the mobile app calls it
// (Connect JSON over HTTP/1.1): uploads (magic bytes, size, file names), object-level
// access, the review flow with status transitions, concurrent reviews, checksum on read,
// and the decision notification delivered through the outbox to NotificationService
// under the decision's trace id.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createHash, randomUUID } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import pg from "pg";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Role } from "../gen/fuel/common/v1/common_pb.js";
import { Decision, DocumentStatus, DocumentType, KycOverallStatus, KycService } from "../gen/fuel/kyc/v1/kyc_pb.js";
import { NotificationService } from "../gen/fuel/notification/v1/notification_pb.js";
import { reasonOf } from "../platform/errors.js";
import { expectError } from "./helpers/rpc.js";
import { connectJson } from "./helpers/clients.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";

interface Ctx {
  sys: TestSystem;
  db: pg.Client;
  storageDir: string;
  admin: Client<typeof KycService>;
  reviewer: Client<typeof KycService>;
  reviewerId: string;
  agencyId: string;
  otherAgencyId: string;
  a: { driverId: string; userId: string; token: string; kyc: Client<typeof KycService> };
  b: { driverId: string; userId: string; kyc: Client<typeof KycService> };
  agencyAdmin: Client<typeof KycService>;
  otherAgencyAdmin: Client<typeof KycService>;
}

const test = suite<Ctx>("kyc documents");

const idem = () => ({ headers: { "idempotency-key": randomUUID() } });
const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 73, 72, 68, 82, 1, 2, 3]);
const JPEG = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 16, 74, 70, 73, 70, 0, 1]);
const PDF = new TextEncoder().encode("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n");
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const driverOwner = (id: string) => ({ owner: { case: "driverId" as const, value: id } });
const agencyOwner = (id: string) => ({ owner: { case: "agencyId" as const, value: id } });

/** Drivers are created by OnboardDriver (kyc-onboard.test.ts); here they are seeded directly. */
async function seedDriver(db: pg.Client, agencyId: string | null) {
  const driverId = randomUUID();
  const userId = randomUUID();
  await db.query(
    `INSERT INTO kyc.drivers (driver_id, user_id, full_name, phone_index, phone_cipher, phone_masked, national_id_index,
       national_id_cipher, national_id_masked, driver_license_number, plate_number, fuel_type, tank_capacity_ml, agency_id,
       membership_agency_id, membership_status, membership_request_time, membership_decided_by, membership_decide_time,
       status, create_time, update_time)
     VALUES ($1, $2, 'Seeded Driver', $3, '\\x00', '+234*******001', $4, '\\x00', '****1234', 'LIC-12345', 'ABC 123', 2, 60000, $5,
       $5, CASE WHEN $5::uuid IS NULL THEN NULL ELSE 'ACCEPTED' END, CASE WHEN $5::uuid IS NULL THEN NULL ELSE now() END,
       CASE WHEN $5::uuid IS NULL THEN NULL ELSE 'seed' END, CASE WHEN $5::uuid IS NULL THEN NULL ELSE now() END,
       'ACTIVE', now(), now())`,
    [driverId, userId, randomUUID(), randomUUID(), agencyId],
  );
  return { driverId, userId };
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p)));
    else out.push(p);
  }
  return out;
}

test.before(async (ctx) => {
  ctx.storageDir = await mkdtemp(join(tmpdir(), "kyc-docs-"));
  ctx.sys = await startTestSystem({ env: { STORAGE_DIR: ctx.storageDir } });
  ctx.db = new pg.Client({ connectionString: ctx.sys.databaseUrl });
  await ctx.db.connect();
  const url = ctx.sys.gatewayUrl;
  ctx.admin = connectJson(KycService, url, await mintAccessToken(ctx.sys, principal(Role.SYSTEM_ADMIN)));
  const reviewerP = principal(Role.BANK_ADMIN, { bankId: randomUUID() });
  ctx.reviewerId = reviewerP.subjectId;
  ctx.reviewer = connectJson(KycService, url, await mintAccessToken(ctx.sys, reviewerP));
  const mkAgency = async (reg: string) =>
    (await ctx.admin.createAgency({ name: `Agency ${reg}`, registrationNumber: reg, contactEmail: "ops@agency.example", contactPhone: "+2348011111111", fleetSize: 5 }, idem()))
      .agency!.agencyId;
  ctx.agencyId = await mkAgency("RC-1001");
  ctx.otherAgencyId = await mkAgency("RC-2002");
  const a = await seedDriver(ctx.db, ctx.agencyId);
  const b = await seedDriver(ctx.db, null);
  const aToken = await mintAccessToken(ctx.sys, principal(Role.DRIVER, { subjectId: a.userId, driverId: a.driverId, agencyId: ctx.agencyId }));
  ctx.a = { ...a, token: aToken, kyc: connectJson(KycService, url, aToken) };
  ctx.b = { ...b, kyc: connectJson(KycService, url, await mintAccessToken(ctx.sys, principal(Role.DRIVER, { subjectId: b.userId, driverId: b.driverId }))) };
  ctx.agencyAdmin = connectJson(KycService, url, await mintAccessToken(ctx.sys, principal(Role.AGENCY_ADMIN, { agencyId: ctx.agencyId })));
  ctx.otherAgencyAdmin = connectJson(KycService, url, await mintAccessToken(ctx.sys, principal(Role.AGENCY_ADMIN, { agencyId: ctx.otherAgencyId })));
});

test.after(async (ctx) => {
  await ctx.db?.end();
  await ctx.sys?.stop();
  await rm(ctx.storageDir, { recursive: true, force: true });
});

test("upload: type from bytes, SHA-256 recorded, stored under a server key in STORAGE_DIR", async (ctx) => {
  const res = await ctx.a.kyc.uploadDocument({ ...{ owner: driverOwner(ctx.a.driverId) }, documentType: DocumentType.NATIONAL_ID, content: PNG, fileName: "id.pdf" }, idem());
  const d = res.document!;
  assert.is(d.status, DocumentStatus.PENDING);
  assert.is(d.contentType, "image/png"); // the bytes decide, not the name
  assert.is(d.sha256Hex, sha(PNG));
  assert.is(d.sizeBytes, BigInt(PNG.length));
  assert.is(d.uploadedBy, ctx.a.userId);
  const { rows } = await ctx.db.query(`SELECT storage_key FROM kyc.documents WHERE document_id = $1`, [d.documentId]);
  assert.is(rows[0].storage_key, `driver-${ctx.a.driverId}/${d.documentId}`);
  assert.equal(new Uint8Array(await readFile(join(ctx.storageDir, rows[0].storage_key))), PNG);
});

test("upload: a path-like file name is only a label; the file lands under STORAGE_DIR at a server key", async (ctx) => {
  const evil = "../../etc/passwd";
  const res = await ctx.a.kyc.uploadDocument({ owner: driverOwner(ctx.a.driverId), documentType: DocumentType.DRIVER_LICENSE, content: JPEG, fileName: evil }, idem());
  assert.is(res.document!.fileName, evil);
  const listed = await ctx.a.kyc.listDocuments({ owner: driverOwner(ctx.a.driverId) });
  assert.ok(listed.documents.some((x) => x.fileName === evil));
  const files = (await listFiles(ctx.storageDir)).map((f) => relative(ctx.storageDir, f));
  assert.ok(files.includes(`driver-${ctx.a.driverId}/${res.document!.documentId}`));
  for (const f of files) assert.match(f, /^(driver|agency)-[0-9a-f-]{36}\/[0-9a-f-]{36}$/);
  assert.not.ok(files.some((f) => f.includes("passwd")));
});

test("upload: wrong magic bytes (an .exe declared as an image) → INVALID_ARGUMENT UNSUPPORTED_CONTENT on content", async (ctx) => {
  const exe = new Uint8Array([0x4d, 0x5a, 0x90, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04, 0x00]);
  await expectError(
    ctx.a.kyc.uploadDocument({ owner: driverOwner(ctx.a.driverId), documentType: DocumentType.NATIONAL_ID, content: exe, fileName: "photo.jpg" }, idem()),
    Code.InvalidArgument,
    { field: "content", reason: "UNSUPPORTED_CONTENT" },
  );
  const html = new TextEncoder().encode("<html><script>alert(1)</script></html>");
  await expectError(
    ctx.a.kyc.uploadDocument({ owner: driverOwner(ctx.a.driverId), documentType: DocumentType.NATIONAL_ID, content: html, fileName: "x.png" }, idem()),
    Code.InvalidArgument,
    { field: "content", reason: "UNSUPPORTED_CONTENT" },
  );
});

test("upload: bytes that only begin like the declared type (a PNG signature before HTML, named .png) → INVALID_ARGUMENT on content", async (ctx) => {
  const disguised = new Uint8Array([...PNG.subarray(0, 8), ...new TextEncoder().encode("<html><script>alert(1)</script></html>")]);
  await expectError(
    ctx.a.kyc.uploadDocument({ owner: driverOwner(ctx.a.driverId), documentType: DocumentType.NATIONAL_ID, content: disguised, fileName: "photo.png" }, idem()),
    Code.InvalidArgument,
    { field: "content", reason: "UNSUPPORTED_CONTENT" },
  );
  const { rows } = await ctx.db.query(`SELECT count(*)::int AS n FROM kyc.documents WHERE sha256_hex = $1`, [sha(disguised)]);
  assert.is(rows[0].n, 0, "nothing stored");
});

test("upload: 10 MiB is accepted, 10 MiB + 1 byte is INVALID_ARGUMENT on content", async (ctx) => {
  const max = new Uint8Array(10 * 1024 * 1024);
  max.set(PDF);
  // The boundary goes through Connect binary (base64-in-JSON of 10 MiB costs seconds).
  const binary = createClient(
    KycService,
    createConnectTransport({
      baseUrl: ctx.sys.gatewayUrl,
      httpVersion: "1.1",
      useBinaryFormat: true,
      interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${ctx.a.token}`), next(req))],
    }),
  );
  const ok = await binary.uploadDocument({ owner: driverOwner(ctx.a.driverId), documentType: DocumentType.VEHICLE_REGISTRATION, content: max, fileName: "big.pdf" }, idem());
  assert.is(ok.document!.sizeBytes, 10_485_760n);
  const over = new Uint8Array(10 * 1024 * 1024 + 1);
  over.set(PDF);
  await expectError(
    ctx.a.kyc.uploadDocument({ owner: driverOwner(ctx.a.driverId), documentType: DocumentType.VEHICLE_REGISTRATION, content: over, fileName: "big.pdf" }, idem()),
    Code.InvalidArgument,
    { field: "content", reason: "CONTENT_TOO_LARGE" },
  );
});

test("upload: bad input names the field", async (ctx) => {
  const base = { owner: driverOwner(ctx.a.driverId), documentType: DocumentType.NATIONAL_ID, content: PNG, fileName: "ok.png" };
  await expectError(ctx.a.kyc.uploadDocument({ ...base, owner: undefined }, idem()), Code.InvalidArgument, { field: "owner" });
  await expectError(ctx.a.kyc.uploadDocument({ ...base, owner: driverOwner("not-a-uuid") }, idem()), Code.InvalidArgument, { field: "owner.driver_id" });
  await expectError(ctx.a.kyc.uploadDocument({ ...base, documentType: DocumentType.UNSPECIFIED }, idem()), Code.InvalidArgument, { field: "document_type" });
  await expectError(ctx.a.kyc.uploadDocument({ ...base, documentType: DocumentType.TAX_CERTIFICATE }, idem()), Code.InvalidArgument, { field: "document_type" });
  await expectError(ctx.a.kyc.uploadDocument({ ...base, content: new Uint8Array() }, idem()), Code.InvalidArgument, { field: "content" });
  await expectError(ctx.a.kyc.uploadDocument({ ...base, fileName: "a\r\nb.png" }, idem()), Code.InvalidArgument, { field: "file_name" });
  await expectError(ctx.a.kyc.uploadDocument({ ...base, fileName: "x".repeat(256) }, idem()), Code.InvalidArgument, { field: "file_name" });
});

test("access: a driver reading or writing another driver's documents → NOT_FOUND", async (ctx) => {
  const mine = (await ctx.a.kyc.listDocuments({ owner: driverOwner(ctx.a.driverId) })).documents;
  assert.ok(mine.length > 0);
  await expectError(ctx.b.kyc.listDocuments({ owner: driverOwner(ctx.a.driverId) }), Code.NotFound);
  await expectError(ctx.b.kyc.getDocumentContent({ documentId: mine[0]!.documentId }), Code.NotFound);
  await expectError(ctx.b.kyc.getKycStatus({ owner: driverOwner(ctx.a.driverId) }), Code.NotFound);
  await expectError(ctx.b.kyc.getDriver({ driverId: ctx.a.driverId }), Code.NotFound);
  await expectError(
    ctx.b.kyc.uploadDocument({ owner: driverOwner(ctx.a.driverId), documentType: DocumentType.NATIONAL_ID, content: PNG, fileName: "x.png" }, idem()),
    Code.NotFound,
  );
  // The same answer as for an id that does not exist at all.
  await expectError(ctx.b.kyc.listDocuments({ owner: driverOwner(randomUUID()) }), Code.NotFound);
  await expectError(ctx.b.kyc.getDocumentContent({ documentId: randomUUID() }), Code.NotFound);
});

test("access: agency admin sees and uploads for the agency's drivers and the agency; other agencies' → NOT_FOUND", async (ctx) => {
  const listed = await ctx.agencyAdmin.listDocuments({ owner: driverOwner(ctx.a.driverId) });
  assert.ok(listed.documents.length > 0);
  const up = await ctx.agencyAdmin.uploadDocument({ owner: driverOwner(ctx.a.driverId), documentType: DocumentType.DRIVER_LICENSE, content: PDF, fileName: "lic.pdf" }, idem());
  assert.is(up.document!.contentType, "application/pdf");
  const own = await ctx.agencyAdmin.uploadDocument({ owner: agencyOwner(ctx.agencyId), documentType: DocumentType.BUSINESS_REGISTRATION, content: PDF, fileName: "cac.pdf" }, idem());
  assert.is(own.document!.owner?.owner.case, "agencyId");
  // Driver B is independent; the other agency's admin does not own driver A.
  await expectError(ctx.agencyAdmin.listDocuments({ owner: driverOwner(ctx.b.driverId) }), Code.NotFound);
  await expectError(ctx.otherAgencyAdmin.listDocuments({ owner: driverOwner(ctx.a.driverId) }), Code.NotFound);
  await expectError(ctx.otherAgencyAdmin.listDocuments({ owner: agencyOwner(ctx.agencyId) }), Code.NotFound);
  await expectError(ctx.otherAgencyAdmin.getDocumentContent({ documentId: own.document!.documentId }), Code.NotFound);
  await expectError(
    ctx.otherAgencyAdmin.uploadDocument({ owner: agencyOwner(ctx.agencyId), documentType: DocumentType.TAX_CERTIFICATE, content: PDF, fileName: "t.pdf" }, idem()),
    Code.NotFound,
  );
  // A driver does not see the agency's own documents.
  await expectError(ctx.a.kyc.listDocuments({ owner: agencyOwner(ctx.agencyId) }), Code.NotFound);
  // Reviewers see everything.
  assert.ok((await ctx.reviewer.listDocuments({ owner: agencyOwner(ctx.agencyId) })).documents.length === 1);
});

test("a driver calling a reviewer method → PERMISSION_DENIED", async (ctx) => {
  const doc = (await ctx.a.kyc.listDocuments({ owner: driverOwner(ctx.a.driverId) })).documents[0]!;
  await expectError(ctx.a.kyc.verifyDocument({ documentId: doc.documentId, decision: Decision.APPROVE }, idem()), Code.PermissionDenied);
});

test("list: newest first, paginated, filtered by status; bad paging input named", async (ctx) => {
  const all = (await ctx.a.kyc.listDocuments({ owner: driverOwner(ctx.a.driverId), pageSize: 200 })).documents;
  assert.ok(all.length >= 4);
  const times = all.map((d) => d.uploadTime!.seconds * 1000n + BigInt(Math.floor(d.uploadTime!.nanos / 1e6)));
  for (let i = 1; i < times.length; i++) assert.ok(times[i - 1]! >= times[i]!);
  const seen: string[] = [];
  let token = "";
  do {
    const page = await ctx.a.kyc.listDocuments({ owner: driverOwner(ctx.a.driverId), pageSize: 2, pageToken: token });
    assert.ok(page.documents.length <= 2);
    seen.push(...page.documents.map((d) => d.documentId));
    token = page.nextPageToken;
  } while (token);
  assert.equal(seen, all.map((d) => d.documentId));
  const pending = await ctx.a.kyc.listDocuments({ owner: driverOwner(ctx.a.driverId), status: DocumentStatus.PENDING });
  assert.is(pending.documents.length, all.length);
  assert.is((await ctx.a.kyc.listDocuments({ owner: driverOwner(ctx.a.driverId), status: DocumentStatus.APPROVED })).documents.length, 0);
  await expectError(ctx.a.kyc.listDocuments({ owner: driverOwner(ctx.a.driverId), pageSize: -1 }), Code.InvalidArgument, { field: "page_size" });
  assert.equal((await ctx.a.kyc.listDocuments({ owner: driverOwner(ctx.a.driverId), pageSize: 201 })).documents.map((d) => d.documentId), seen);
  await expectError(ctx.a.kyc.listDocuments({ owner: driverOwner(ctx.a.driverId), pageToken: "garbage!" }), Code.InvalidArgument, { field: "page_token" });
  await expectError(ctx.a.kyc.listDocuments({ owner: driverOwner(ctx.a.driverId), status: 9 as DocumentStatus }), Code.InvalidArgument, { field: "status" });
  await expectError(ctx.a.kyc.listDocuments({}), Code.InvalidArgument, { field: "owner" });
});

test("content: the owner reads the bytes back; tampered storage → DATA_LOSS CONTENT_CHECKSUM_MISMATCH", async (ctx) => {
  const up = await ctx.a.kyc.uploadDocument({ owner: driverOwner(ctx.a.driverId), documentType: DocumentType.NATIONAL_ID, content: JPEG, fileName: "id.jpg" }, idem());
  const got = await ctx.a.kyc.getDocumentContent({ documentId: up.document!.documentId });
  assert.equal(got.content, JPEG);
  assert.is(got.document!.sha256Hex, sha(JPEG));
  const viaReviewer = await ctx.reviewer.getDocumentContent({ documentId: up.document!.documentId });
  assert.equal(viaReviewer.content, JPEG);
  const tampered = new Uint8Array(JPEG);
  tampered[JPEG.length - 1] = 0x42;
  await writeFile(join(ctx.storageDir, `driver-${ctx.a.driverId}`, up.document!.documentId), tampered);
  await expectError(ctx.a.kyc.getDocumentContent({ documentId: up.document!.documentId }), Code.DataLoss, { reason: "CONTENT_CHECKSUM_MISMATCH" });
  await expectError(ctx.a.kyc.getDocumentContent({ documentId: "nope" }), Code.InvalidArgument, { field: "document_id" });
});

test("review: reject → REJECTED, re-upload → PENDING, approve all → VERIFIED; who/when kept; double review refused", async (ctx) => {
  const { driverId, userId } = await seedDriver(ctx.db, null);
  const me = connectJson(KycService, ctx.sys.gatewayUrl, await mintAccessToken(ctx.sys, principal(Role.DRIVER, { subjectId: userId, driverId })));
  const owner = driverOwner(driverId);
  const s0 = await me.getKycStatus({ owner });
  assert.is(s0.overall, KycOverallStatus.NOT_STARTED);
  assert.equal(s0.missingTypes, [DocumentType.NATIONAL_ID, DocumentType.DRIVER_LICENSE, DocumentType.VEHICLE_REGISTRATION]);

  const up = async (t: DocumentType) => (await me.uploadDocument({ owner, documentType: t, content: PNG, fileName: "p.png" }, idem())).document!.documentId;
  const nid = await up(DocumentType.NATIONAL_ID);
  const lic = await up(DocumentType.DRIVER_LICENSE);
  const veh = await up(DocumentType.VEHICLE_REGISTRATION);
  const s1 = await me.getKycStatus({ owner });
  assert.is(s1.overall, KycOverallStatus.PENDING);
  assert.is(s1.pendingCount, 3);

  // Bad input on VerifyDocument.
  await expectError(ctx.reviewer.verifyDocument({ documentId: nid, decision: Decision.REJECT, reason: "" }, idem()), Code.InvalidArgument, { field: "reason" });
  await expectError(ctx.reviewer.verifyDocument({ documentId: nid, decision: Decision.UNSPECIFIED }, idem()), Code.InvalidArgument, { field: "decision" });
  await expectError(ctx.reviewer.verifyDocument({ documentId: "x", decision: Decision.APPROVE }, idem()), Code.InvalidArgument, { field: "document_id" });
  await expectError(ctx.reviewer.verifyDocument({ documentId: randomUUID(), decision: Decision.APPROVE }, idem()), Code.NotFound);

  const rejected = await ctx.reviewer.verifyDocument({ documentId: nid, decision: Decision.REJECT, reason: "photo is blurred" }, idem());
  assert.is(rejected.document!.status, DocumentStatus.REJECTED);
  assert.is(rejected.document!.reviewedBy, ctx.reviewerId);
  assert.ok(rejected.document!.reviewTime);
  assert.is(rejected.document!.reviewReason, "photo is blurred");
  assert.is(rejected.overall, KycOverallStatus.REJECTED);
  await expectError(ctx.reviewer.verifyDocument({ documentId: nid, decision: Decision.APPROVE }, idem()), Code.FailedPrecondition, { reason: "DOCUMENT_ALREADY_REVIEWED" });
  assert.is((await me.getDriver({ driverId })).driver!.kycStatus, KycOverallStatus.REJECTED);

  const nid2 = await up(DocumentType.NATIONAL_ID);
  assert.is((await me.getKycStatus({ owner })).overall, KycOverallStatus.PENDING);
  assert.is((await me.getDriver({ driverId })).driver!.kycStatus, KycOverallStatus.PENDING, "GetDriver reads the newest document of each type");
  for (const id of [nid2, lic]) {
    const r = await ctx.reviewer.verifyDocument({ documentId: id, decision: Decision.APPROVE }, idem());
    assert.is(r.overall, KycOverallStatus.PENDING);
  }
  const last = await ctx.reviewer.verifyDocument({ documentId: veh, decision: Decision.APPROVE, reason: "all good" }, idem());
  assert.is(last.overall, KycOverallStatus.VERIFIED);
  const s2 = await me.getKycStatus({ owner });
  assert.is(s2.overall, KycOverallStatus.VERIFIED);
  assert.is(s2.approvedCount, 3);
  assert.is(s2.rejectedCount, 1);
  assert.is(s2.pendingCount, 0);
  assert.equal(s2.missingTypes, []);
  assert.ok(s2.verifiedTime);
  assert.is((await me.getDriver({ driverId })).driver!.kycStatus, KycOverallStatus.VERIFIED);
  // One outbox row per decision, written with the decision.
  const { rows } = await ctx.db.query(`SELECT count(*)::int AS n FROM kyc.outbox WHERE payload->>'userId' = $1`, [userId]);
  assert.is(rows[0].n, 4);
});

test("review: concurrent reviews of one document → exactly one wins", async (ctx) => {
  const { driverId, userId } = await seedDriver(ctx.db, null);
  const me = connectJson(KycService, ctx.sys.gatewayUrl, await mintAccessToken(ctx.sys, principal(Role.DRIVER, { subjectId: userId, driverId })));
  const doc = (await me.uploadDocument({ owner: driverOwner(driverId), documentType: DocumentType.NATIONAL_ID, content: PNG, fileName: "p.png" }, idem())).document!;
  const reviewers = await Promise.all(
    Array.from({ length: 6 }, async () => connectJson(KycService, ctx.sys.gatewayUrl, await mintAccessToken(ctx.sys, principal(Role.SYSTEM_ADMIN)))),
  );
  const results = await Promise.allSettled(
    reviewers.map((r, i) => r.verifyDocument({ documentId: doc.documentId, decision: i % 2 ? Decision.APPROVE : Decision.REJECT, reason: "concurrent check" }, idem())),
  );
  const won = results.filter((r) => r.status === "fulfilled");
  assert.is(won.length, 1);
  for (const r of results) {
    if (r.status === "rejected") assert.is(reasonOf(r.reason), "DOCUMENT_ALREADY_REVIEWED");
  }
  const { rows } = await ctx.db.query(`SELECT count(*)::int AS n FROM kyc.outbox WHERE payload->>'userId' = $1`, [userId]);
  assert.is(rows[0].n, 1);
});

test("notification: each decision reaches the owner in-app, through the outbox, under the decision's trace id", async (ctx) => {
  const { driverId, userId } = await seedDriver(ctx.db, null);
  const token = await mintAccessToken(ctx.sys, principal(Role.DRIVER, { subjectId: userId, driverId }));
  const me = connectJson(KycService, ctx.sys.gatewayUrl, token);
  const doc = (await me.uploadDocument({ owner: driverOwner(driverId), documentType: DocumentType.DRIVER_LICENSE, content: PNG, fileName: "p.png" }, idem())).document!;
  let traceId = "";
  await ctx.reviewer.verifyDocument(
    { documentId: doc.documentId, decision: Decision.REJECT, reason: "licence expired" },
    { ...idem(), onHeader: (h) => (traceId = h.get("x-trace-id") ?? "") },
  );
  assert.ok(/^[0-9a-f]{32}$/.test(traceId), `x-trace-id: ${traceId}`);

  const deadline = Date.now() + 10_000;
  let delivered: { delivered_at: Date | null; outbox_id: string } | undefined;
  while (Date.now() < deadline) {
    const { rows } = await ctx.db.query(`SELECT outbox_id, delivered_at FROM kyc.outbox WHERE payload->>'userId' = $1`, [userId]);
    delivered = rows[0];
    if (delivered?.delivered_at) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(delivered?.delivered_at, "outbox row delivered");
  const { rows } = await ctx.db.query(`SELECT title, body, kind, trace_id, idem_key FROM notification.notifications WHERE user_id = $1`, [userId]);
  assert.is(rows.length, 1);
  assert.is(rows[0].kind, "KYC_DOCUMENT_REJECTED");
  assert.match(rows[0].body, /licence expired/);
  assert.is(rows[0].idem_key, delivered!.outbox_id);
  assert.is(rows[0].trace_id, traceId);
  // The driver sees it in the app.
  const inbox = await connectJson(NotificationService, ctx.sys.gatewayUrl, token).listNotifications({});
  assert.ok(inbox.notifications.some((n) => n.title === "Document rejected"));
});

test.run();
