// `npm run demo`: the whole product through the gateway, printed step by step — a new
// driver verifies their phone by OTP, onboards, uploads KYC documents and a reviewer
// approves them; the driver finds stations and sees a live price change; a bank opens a
// credit line; the driver buys fuel with a QR code (authorize, settle), the purchase
// becomes a loan, the driver repays through the payment gateway and the limit is restored. Starts its own system on the embedded
// defaults (or on DATABASE_URL / REDIS_URL if set) and reads the SMS codes from the dev
// inbox, exactly as a person would.
import { randomUUID } from "node:crypto";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { DescService } from "@bufbuild/protobuf";
import { AuthService } from "../gen/fuel/auth/v1/auth_pb.js";
import { FuelType } from "../gen/fuel/common/v1/common_pb.js";
import { Decision, DocumentType, KycOverallStatus, KycService } from "../gen/fuel/kyc/v1/kyc_pb.js";
import { NotificationService } from "../gen/fuel/notification/v1/notification_pb.js";
import { loadConfig } from "../platform/config.js";
import { freshDatabase } from "./fresh-database.js";
import { startSystem, type RunningSystem } from "./system.js";
import { stationsDemo } from "./demo-stations.js";
import { creditCycleDemo } from "./demo-cycle.js";
import { networkDemo } from "./demo-network.js";

const DRIVER_PHONE = "+2348031234567";
const ADMIN_PHONE = "+2348000000001";

// Smallest valid files of each kind, recognised by their bytes.
const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==", "base64");
const PDF = Buffer.from("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n");

const step = (n: number, text: string) => console.log(`\n${n}. ${text}`);
const show = (label: string, value: unknown) => console.log(`   ${label}: ${typeof value === "string" ? value : JSON.stringify(value)}`);

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

async function readCode(sys: RunningSystem, phone: string, after: number): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const msg = sys.devInbox?.messages({ channel: "sms", to: phone }).find((m) => m.receivedAt.getTime() >= after);
    const code = msg?.body.match(/\b(\d{6})\b/)?.[1];
    if (code) return code;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no SMS reached ${phone}`);
}

async function main(): Promise<void> {
  // On a real server the demo works in a database of its own, dropped afterwards, so it
  // can run again and never touches anyone's data.
  const db = await freshDatabase();
  const cfg = loadConfig({ ...process.env, ...(db ? { DATABASE_URL: db.url } : {}), PORT: "0", DEV_INBOX_PORT: "0", METRICS_PORT: "0", LOG_LEVEL: process.env.LOG_LEVEL ?? "warn", BOOTSTRAP_ADMIN_PHONE: ADMIN_PHONE,
    ...Object.fromEntries(["AUTH", "KYC", "CREDIT", "TRANSACTION", "LOAN", "PAYMENT", "STATION", "NOTIFICATION"].map((n) => [`${n}_PORT`, "0"])) });
  const sys = await startSystem(cfg);
  const url = sys.gateway!.url;
  console.log(`Fuel clearinghouse demo — gateway ${url}, dev inbox ${sys.devInbox?.webUrl}`);
  try {
    step(1, "Driver opens the app and asks for a login code");
    let t0 = Date.now();
    const otp = await app(AuthService, url).customerRequestOtp({ phone: DRIVER_PHONE });
    show("code valid for (s)", otp.expiresInSeconds);
    const code = await readCode(sys, DRIVER_PHONE, t0);
    show("SMS read from the dev inbox", "6-digit code received");

    step(2, "Driver enters the code — new phone, so the app gets an onboarding token");
    const verified = await app(AuthService, url).customerVerifyOtp({ phone: DRIVER_PHONE, code });
    if (verified.result.case !== "onboardingToken") throw new Error("expected an onboarding token for a new phone");

    step(3, "Driver onboards: name, national ID, licence, vehicle");
    const onboard = await app(KycService, url).onboardDriver({
      onboardingToken: verified.result.value,
      fullName: "Amina Bello",
      nationalId: "NIN12345678901",
      driverLicenseNumber: "LAG-2024-99812",
      vehicle: { plateNumber: "LSD 482 KJ", fuelType: FuelType.DIESEL, tankCapacityMl: 80_000n, makeModel: "Toyota Hiace" },
    });
    const driver = onboard.driver!;
    const driverToken = onboard.session!.accessToken;
    show("driver", { id: driver.driverId, nationalId: driver.nationalIdMasked, phone: driver.phoneMasked });
    show("signed in as", "DRIVER (access token ≤ 15 min, rotating refresh token)");

    step(4, "Driver uploads the three KYC documents");
    const kyc = app(KycService, url, driverToken);
    const owner = { owner: { case: "driverId" as const, value: driver.driverId } };
    for (const [type, bytes, name] of [
      [DocumentType.NATIONAL_ID, PNG, "nin-card.png"],
      [DocumentType.DRIVER_LICENSE, PNG, "licence.png"],
      [DocumentType.VEHICLE_REGISTRATION, PDF, "vehicle-papers.pdf"],
    ] as const) {
      const up = await kyc.uploadDocument({ owner, documentType: type, content: bytes, fileName: name });
      show(DocumentType[type], { status: "PENDING", contentType: up.document!.contentType, sha256: up.document!.sha256Hex.slice(0, 16) + "…" });
    }
    show("KYC status", KycOverallStatus[(await kyc.getKycStatus({ owner })).overall]);

    step(5, "A reviewer signs in with their own OTP");
    t0 = Date.now();
    await app(AuthService, url).requestOtp({ phone: ADMIN_PHONE });
    const adminCode = await readCode(sys, ADMIN_PHONE, t0);
    const admin = await app(AuthService, url).verifyOtp({ phone: ADMIN_PHONE, code: adminCode });
    const reviewer = app(KycService, url, admin.session!.accessToken);
    show("signed in as", "SYSTEM_ADMIN (bootstrapped from BOOTSTRAP_ADMIN_PHONE)");

    step(6, "Reviewer approves each document");
    const docs = await reviewer.listDocuments({ owner });
    let overall = KycOverallStatus.UNSPECIFIED;
    for (const d of docs.documents) {
      const r = await reviewer.verifyDocument({ documentId: d.documentId, decision: Decision.APPROVE, reason: "legible and matches profile" });
      overall = r.overall;
      show(DocumentType[d.documentType], "APPROVED");
    }
    show("KYC status", KycOverallStatus[overall]);

    step(7, "Driver sees the decisions in the app");
    let inbox = await app(NotificationService, url, driverToken).listNotifications({});
    for (let i = 0; i < 100 && inbox.notifications.length < docs.documents.length; i++) {
      await new Promise((r) => setTimeout(r, 50));
      inbox = await app(NotificationService, url, driverToken).listNotifications({});
    }
    for (const n of inbox.notifications) show("notification", n.title);
    show("unread", inbox.unreadCount);

    // Stations: find where to fill up, and watch a price change arrive live.
    const stations = await stationsDemo({ gatewayUrl: url, systemAdminToken: admin.session!.accessToken, driverToken, step, show, firstStep: 8 });

    // The credit cycle: line → QR → authorize → settle → loan → payment → webhook → repaid.
    const cycle = await creditCycleDemo({
      gatewayUrl: url,
      paymentGatewayUrl: sys.paymentGateway!.url,
      systemAdminToken: admin.session!.accessToken,
      driverToken,
      driverId: driver.driverId,
      stationId: stations.stationId,
      terminalToken: stations.terminalToken,
      readCode: (phone, after) => readCode(sys, phone, after),
      step,
      show,
      firstStep: stations.nextStep,
    });

    // What the network adds: a program's cap, litres at a locked price, a decline with advice.
    await networkDemo({
      gatewayUrl: url, coreToken: cycle.coreToken, driverToken, driverId: driver.driverId, creditLineId: cycle.creditLineId,
      stationId: stations.stationId, terminalToken: stations.terminalToken, step, show, firstStep: cycle.nextStep,
    });
    console.log("\nDemo complete.");
  } finally {
    await sys.stop();
    await db?.drop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
