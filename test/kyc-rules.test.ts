// Unit tests of KycService's pure rules: overall KYC status, content sniffing, PII
// encryption and blind index, file-name labels, outbox backoff, SigV4 signing.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { randomBytes } from "node:crypto";
import { DocumentStatus, DocumentType, KycOverallStatus } from "../gen/fuel/kyc/v1/kyc_pb.js";
import { AGENCY_REQUIRED, DRIVER_REQUIRED, overallStatus, type DocFact } from "../services/kyc/kyc-status-rule.js";
import { MAX_DOCUMENT_BYTES, sniffContentType } from "../services/kyc/content-sniff.js";
import { normaliseNationalId, PiiCipher } from "../services/kyc/pii.js";
import { fileNameLabel } from "../services/kyc/documents.js";
import { backoffMs, DEFAULT_RELAY_OPTIONS } from "../services/kyc/outbox.js";
import { decisionMessage, } from "../services/kyc/review.js";
import { signV4 } from "../services/kyc/storage/sigv4.js";
import { createUserIdempotencyKey } from "../services/kyc/onboard.js";
import { membershipMessage } from "../services/kyc/membership.js";
import { driverProfileVisible, driverVisible, type DriverScope } from "../services/kyc/access.js";
import { maskTail } from "../platform/validate.js";

const { PENDING, APPROVED, REJECTED } = DocumentStatus;
const { NATIONAL_ID, DRIVER_LICENSE, VEHICLE_REGISTRATION, BUSINESS_REGISTRATION, TAX_CERTIFICATE } = DocumentType;
let seq = 0n;
const doc = (type: DocumentType, status: DocumentStatus, reviewTime: Date | null = status === PENDING ? null : new Date(1_000)): DocFact => ({
  type,
  status,
  seq: ++seq,
  reviewTime,
});

const test = suite("kyc rules (pure)");

// ------------------------------------------------------------------ overall status

test("overall status: no documents → NOT_STARTED with every required type missing", () => {
  const r = overallStatus(DRIVER_REQUIRED, []);
  assert.is(r.overall, KycOverallStatus.NOT_STARTED);
  assert.equal(r.missing, [NATIONAL_ID, DRIVER_LICENSE, VEHICLE_REGISTRATION]);
  assert.is(r.verifiedTime, null);
});

test("overall status: some pending, none rejected → PENDING", () => {
  const r = overallStatus(DRIVER_REQUIRED, [doc(NATIONAL_ID, APPROVED), doc(DRIVER_LICENSE, PENDING)]);
  assert.is(r.overall, KycOverallStatus.PENDING);
  assert.equal(r.missing, [DRIVER_LICENSE, VEHICLE_REGISTRATION]);
});

test("overall status: all required approved → VERIFIED at the last approval", () => {
  const r = overallStatus(DRIVER_REQUIRED, [
    doc(NATIONAL_ID, APPROVED, new Date(1_000)),
    doc(DRIVER_LICENSE, APPROVED, new Date(3_000)),
    doc(VEHICLE_REGISTRATION, APPROVED, new Date(2_000)),
  ]);
  assert.is(r.overall, KycOverallStatus.VERIFIED);
  assert.equal(r.missing, []);
  assert.equal(r.verifiedTime, new Date(3_000));
});

test("overall status: latest of a type rejected → REJECTED even if others approved", () => {
  const r = overallStatus(DRIVER_REQUIRED, [doc(NATIONAL_ID, APPROVED), doc(DRIVER_LICENSE, APPROVED), doc(VEHICLE_REGISTRATION, REJECTED)]);
  assert.is(r.overall, KycOverallStatus.REJECTED);
  assert.equal(r.missing, [VEHICLE_REGISTRATION]);
});

test("overall status: only the latest document per type counts (re-upload after rejection)", () => {
  const docs = [doc(NATIONAL_ID, REJECTED), doc(DRIVER_LICENSE, APPROVED), doc(VEHICLE_REGISTRATION, APPROVED)];
  assert.is(overallStatus(DRIVER_REQUIRED, docs).overall, KycOverallStatus.REJECTED);
  const reuploaded = [...docs, doc(NATIONAL_ID, PENDING)];
  assert.is(overallStatus(DRIVER_REQUIRED, reuploaded).overall, KycOverallStatus.PENDING);
  const approved = [...docs, doc(NATIONAL_ID, APPROVED)];
  assert.is(overallStatus(DRIVER_REQUIRED, approved).overall, KycOverallStatus.VERIFIED);
  // Order in the input does not matter: seq decides which one is latest.
  assert.is(overallStatus(DRIVER_REQUIRED, [...approved].reverse()).overall, KycOverallStatus.VERIFIED);
  // An older approval does not outweigh a newer rejection.
  const newerRejection = [doc(NATIONAL_ID, APPROVED), doc(DRIVER_LICENSE, APPROVED), doc(VEHICLE_REGISTRATION, APPROVED), doc(NATIONAL_ID, REJECTED)];
  assert.is(overallStatus(DRIVER_REQUIRED, newerRejection).overall, KycOverallStatus.REJECTED);
});

test("overall status: agency requires business registration and tax certificate", () => {
  assert.is(overallStatus(AGENCY_REQUIRED, [doc(BUSINESS_REGISTRATION, APPROVED)]).overall, KycOverallStatus.PENDING);
  const r = overallStatus(AGENCY_REQUIRED, [doc(BUSINESS_REGISTRATION, APPROVED), doc(TAX_CERTIFICATE, APPROVED)]);
  assert.is(r.overall, KycOverallStatus.VERIFIED);
});


// ------------------------------------------------------------------ content sniffing
const bytes = (...b: number[]) => new Uint8Array(b);

test("sniffing: recognises JPEG, PNG and PDF by magic bytes", async () => {
  assert.is(await sniffContentType(bytes(0xff, 0xd8, 0xff, 0xe0, 0, 0x10)), "image/jpeg");
  const onePixelPng = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAAAASUVORK5CYII=", "base64");
  assert.is(await sniffContentType(onePixelPng), "image/png");
  assert.is(await sniffContentType(new TextEncoder().encode("%PDF-1.7\n%...")), "application/pdf");
});

test("sniffing: rejects executables, text, truncated headers and empty input", async () => {
  assert.is(await sniffContentType(bytes(0x4d, 0x5a, 0x90, 0x00, 0x03)), null); // "MZ" PE executable
  assert.is(await sniffContentType(new TextEncoder().encode("#!/bin/sh\nrm -rf /")), null);
  assert.is(await sniffContentType(new TextEncoder().encode("<svg xmlns='http://www.w3.org/2000/svg'/>")), null);
  assert.is(await sniffContentType(bytes(0xff, 0xd8, 0xff)), null);
  assert.is(await sniffContentType(bytes(0x89, 0x50, 0x4e, 0x47)), null);
  assert.is(await sniffContentType(new Uint8Array()), null);
  assert.is(MAX_DOCUMENT_BYTES, 10_485_760);
});

test("sniffing: a signature alone does not make a document of that type", async () => {
  const pngSignature = bytes(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
  const html = new TextEncoder().encode("<html><script>alert(1)</script></html>");
  assert.is(await sniffContentType(new Uint8Array([...pngSignature, ...html])), null); // no IHDR chunk: not a PNG
  assert.is(await sniffContentType(bytes(0xff, 0xd8, 0xff, 0xf7, 0, 0x0b, 0x08)), null); // JPEG-LS, not a JPEG a reviewer can open
  assert.is(await sniffContentType(new TextEncoder().encode("%PDF1.7 not a header")), null);
  assert.is(await sniffContentType(new TextEncoder().encode("GIF89a\x01\x00\x01\x00\x00\x00\x00;")), null);
});


// ------------------------------------------------------------------ PII

test("PII: encrypts with a random IV and decrypts only with the same key and AAD", () => {
  const key = randomBytes(32);
  const c = new PiiCipher(key);
  const a = c.encrypt("A1234567", "kyc.drivers.national_id:x");
  const b = c.encrypt("A1234567", "kyc.drivers.national_id:x");
  assert.not.equal(Buffer.from(a), Buffer.from(b));
  assert.not.ok(Buffer.from(a).includes(Buffer.from("A1234567")));
  assert.is(c.decrypt(a, "kyc.drivers.national_id:x"), "A1234567");
  assert.throws(() => c.decrypt(a, "kyc.drivers.national_id:y"));
  assert.throws(() => new PiiCipher(randomBytes(32)).decrypt(a, "kyc.drivers.national_id:x"));
  const tampered = Buffer.from(a);
  tampered[tampered.length - 1]! ^= 1;
  assert.throws(() => c.decrypt(tampered, "kyc.drivers.national_id:x"));
});

test("PII: blind index is deterministic per key and purpose, and hides the value", () => {
  const key = randomBytes(32);
  const c = new PiiCipher(key);
  assert.is(c.blindIndex("national_id", "A1234567"), new PiiCipher(key).blindIndex("national_id", "A1234567"));
  assert.is.not(c.blindIndex("national_id", "A1234567"), c.blindIndex("phone", "A1234567"));
  assert.is.not(c.blindIndex("national_id", "A1234567"), new PiiCipher(randomBytes(32)).blindIndex("national_id", "A1234567"));
  assert.ok(/^[0-9a-f]{64}$/.test(c.blindIndex("national_id", "A1234567")));
});

test("PII: national IDs normalise before indexing; masks keep only the tail", () => {
  assert.is(normaliseNationalId(" ab-12 3456 "), "AB123456");
  assert.is(maskTail("AB123456", 4), "****3456");
});


// ------------------------------------------------------------------ misc rules

test("misc: file names are labels: path-like accepted as text, control chars and >255 rejected", () => {
  assert.is(fileNameLabel("file_name", "../../etc/passwd"), "../../etc/passwd");
  assert.is(fileNameLabel("file_name", ""), "");
  assert.throws(() => fileNameLabel("file_name", "a\nb"), /file_name/);
  assert.throws(() => fileNameLabel("file_name", "a\u0000b"), /file_name/);
  assert.throws(() => fileNameLabel("file_name", "x".repeat(256)), /file_name/);
  assert.is(fileNameLabel("file_name", "x".repeat(255)).length, 255);
});

test("misc: decision messages name the document and carry the rejection reason", () => {
  const ok = decisionMessage("u", { document_type: DocumentType.DRIVER_LICENSE, status: "APPROVED", review_reason: "" });
  assert.is(ok.kind, "KYC_DOCUMENT_APPROVED");
  assert.match(ok.body, /driving licence/);
  const no = decisionMessage("u", { document_type: DocumentType.NATIONAL_ID, status: "REJECTED", review_reason: "photo is blurred" });
  assert.is(no.kind, "KYC_DOCUMENT_REJECTED");
  assert.match(no.body, /photo is blurred/);
});

test("membership: a request shows the driver's profile to the agency asked, and nothing more", () => {
  const agency: DriverScope = { kind: "agency", agencyId: "A" };
  const asking = { driver_id: "d", agency_id: null, membership_agency_id: "A" };
  assert.ok(driverProfileVisible(agency, asking));
  assert.not.ok(driverVisible(agency, asking), "documents and KYC stay the driver's until accepted");
  assert.not.ok(driverProfileVisible({ kind: "agency", agencyId: "B" }, asking));
  const member = { driver_id: "d", agency_id: "A", membership_agency_id: "A" };
  assert.ok(driverVisible(agency, member) && driverProfileVisible(agency, member));
  assert.not.ok(driverProfileVisible({ kind: "driver", driverId: "other" }, asking));
});

test("membership: the driver's message names the agency and carries a refusal's reason", () => {
  const ok = membershipMessage("u", "Reliable Haulage", { status: "ACCEPTED", reason: "" });
  assert.is(ok.kind, "AGENCY_MEMBERSHIP_ACCEPTED");
  assert.match(ok.body, /Reliable Haulage/);
  const no = membershipMessage("u", "Reliable Haulage", { status: "REJECTED", reason: "not one of our drivers" });
  assert.is(no.kind, "AGENCY_MEMBERSHIP_REJECTED");
  assert.match(no.body, /not one of our drivers/);
});

test("misc: outbox backoff grows exponentially, is capped and jittered", () => {
  const o = DEFAULT_RELAY_OPTIONS;
  assert.is(backoffMs(1, o, () => 1), o.baseBackoffMs);
  assert.is(backoffMs(2, o, () => 1), o.baseBackoffMs * 2);
  assert.is(backoffMs(4, o, () => 1), o.baseBackoffMs * 8);
  assert.is(backoffMs(50, o, () => 1), o.maxBackoffMs);
  assert.is(backoffMs(3, o, () => 0), (o.baseBackoffMs * 4) / 2);
});

test("misc: CreateDriverUser idempotency key is a pure function of the driver id", () => {
  const id = "0b6f2e8e-0c1a-4d6e-9a57-1d2b3c4d5e6f";
  assert.is(createUserIdempotencyKey(id), createUserIdempotencyKey(id));
  assert.is.not(createUserIdempotencyKey(id), createUserIdempotencyKey("1b6f2e8e-0c1a-4d6e-9a57-1d2b3c4d5e6f"));
  assert.ok(/^[\x21-\x7e]{1,128}$/.test(createUserIdempotencyKey(id)));
});


// ------------------------------------------------------------------ SigV4

test("SigV4: matches AWS's documented S3 GET example", () => {
  // https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html (GET Object)
  const headers = signV4(
    {
      method: "GET",
      url: new URL("https://examplebucket.s3.amazonaws.com/test.txt"),
      payloadHash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      headers: { range: "bytes=0-9" },
    },
    { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" },
    "us-east-1",
    "s3",
    new Date("2013-05-24T00:00:00Z"),
  );
  assert.is(
    headers.authorization,
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, " +
      "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, " +
      "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
  );
  assert.is(headers["x-amz-date"], "20130524T000000Z");
});

test.run();
