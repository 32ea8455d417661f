// The back office in a real browser: Debian's Chromium driven by playwright-core against
// the whole system, signing in through the real flow (OTP read from the dev inbox). An
// officer approves a driver's documents and opens a line (and meets a version conflict);
// a merchant admin on a phone-sized screen changes a price, issues a terminal, finds it
// listed after a reload and revokes it; a driver is shown that the officer's screens are
// not theirs, and the server refuses them too. Also: the page's CSP, where tokens live,
// the refresh cookie's flags. Screenshots go to $TMPDIR/fuel-console-shots
// (CONSOLE_SHOTS_DIR to move them); with UPDATE_CONSOLE_DOCS=1 two of them are copied to
// docs/console/ for the README.
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { Code } from "@connectrpc/connect";
import { AuthService } from "../gen/fuel/auth/v1/auth_pb.js";
import { FuelType, Role } from "../gen/fuel/common/v1/common_pb.js";
import { RiskCategory } from "../gen/fuel/credit/v1/credit_line_pb.js";
import { CreditService } from "../gen/fuel/credit/v1/credit_pb.js";
import { DocumentType, KycService } from "../gen/fuel/kyc/v1/kyc_pb.js";
import { StationService } from "../gen/fuel/station/v1/station_pb.js";
import { buildConsole } from "../console/build.js";
import { driverSignUp, otpFor, Wire, type Actor } from "./helpers/actors.js";
import { connectJson } from "./helpers/clients.js";
import { createBank, createMerchant, createStation } from "./helpers/orgs.js";
import { fails, idem, newPhone } from "./helpers/rpc.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";
import { mintAccessToken, principal } from "./helpers/tokens.js";

const test = suite("console");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** Without Chromium the browser scenarios cannot run: outside CI the suite says so, in CI that fails. */
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const SHOTS = process.env.CONSOLE_SHOTS_DIR ?? join(tmpdir(), "fuel-console-shots");
const DOCS = new URL("../docs/console/", import.meta.url);
/** No step of a scenario waits longer than this for the page. */
const STEP_MS = 15_000;

let sys: TestSystem;
let browser: Browser;
let wire: Wire;
let base: string;
const world = {} as {
  adminPhone: string;
  bankId: string;
  merchantId: string;
  stationId: string;
  officerPhone: string;
  merchantPhone: string;
  driver: Actor;
  officerToken: string;
};

/** A document image as a phone camera would send it: rendered by the browser itself. */
async function documentImage(title: string, line: string): Promise<Buffer> {
  const page = await browser.newPage({ viewport: { width: 480, height: 300 } });
  await page.setContent(`<body style="margin:0;font-family:sans-serif"><div style="margin:16px;height:268px;border-radius:14px;background:linear-gradient(135deg,#d8efe9,#9fcfc4);padding:20px;box-sizing:border-box">
    <div style="font-weight:700;font-size:20px;color:#12323a">FEDERAL REPUBLIC · ${title}</div>
    <div style="display:flex;gap:18px;margin-top:22px"><div style="width:96px;height:120px;background:#7fa8a0;border-radius:8px"></div>
    <div style="font-size:15px;line-height:1.8;color:#12323a">${line}<br>Issued 2024-03-01<br>Expires 2029-02-28</div></div></div></body>`);
  const png = await page.screenshot({ type: "png" });
  await page.close();
  return png;
}

test.before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  await buildConsole();
  const adminPhone = (world.adminPhone = newPhone("+23470"));
  sys = await startTestSystem({ env: { BOOTSTRAP_ADMIN_PHONE: adminPhone } });
  // Chromium treats localhost as a secure context, so the Secure refresh cookie is kept over plain http.
  base = sys.gatewayUrl.replace("127.0.0.1", "localhost");
  wire = new Wire(sys.gatewayUrl);

  const root = await mintAccessToken(sys, principal(Role.SYSTEM_ADMIN));
  world.bankId = await createBank(sys.gatewayUrl, root, "Lagos Fuel Bank");
  world.merchantId = await createMerchant(sys.gatewayUrl, root, "Marina Fuels");
  world.stationId = await createStation(sys.gatewayUrl, root, world.merchantId, { name: "Marina Road" });
  const users = connectJson(AuthService, sys.gatewayUrl, root);
  world.officerPhone = newPhone("+23481");
  world.merchantPhone = newPhone("+23482");
  await users.createUser({ phone: world.officerPhone, displayName: "Ada Officer", role: Role.BANK_ADMIN, organizationId: world.bankId }, idem());
  await users.createUser({ phone: world.merchantPhone, displayName: "Musa Merchant", role: Role.MERCHANT_ADMIN, organizationId: world.merchantId }, idem());

  // The bank's policy: the limit a new line gets per risk category.
  world.officerToken = await mintAccessToken(sys, principal(Role.BANK_ADMIN, { bankId: world.bankId }));
  await connectJson(CreditService, sys.gatewayUrl, world.officerToken).setCreditPolicy(
    { currency: "NGN", expectedVersion: 0n, categoryLimits: [RiskCategory.LOW, RiskCategory.MEDIUM, RiskCategory.HIGH].map((category) => ({ category, maxLimit: { amountMinor: 25_000_000n, currency: "NGN" } })) },
    idem(),
  );
  // The station has reported its prices.
  const merchantToken = await mintAccessToken(sys, principal(Role.MERCHANT_ADMIN, { merchantId: world.merchantId }));
  await connectJson(StationService, sys.gatewayUrl, merchantToken).updateFuelAvailability(
    { stationId: world.stationId, updates: [{ fuelType: FuelType.PETROL, inStock: true, levelMl: 18_000_000n, priceMinorPerLitre: 89_700n, currency: "NGN" }, { fuelType: FuelType.DIESEL, inStock: false, priceMinorPerLitre: 125_000n, currency: "NGN" }] },
    idem(),
  );

  if (!HAVE_CHROMIUM) return;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  // A driver signs up in the app and uploads their documents.
  world.driver = await driverSignUp(sys, wire, "connect", "Chidi Okafor", newPhone("+23483"));
  const kyc = connectJson(KycService, sys.gatewayUrl, world.driver.token);
  const owner = { owner: { case: "driverId" as const, value: world.driver.principal.driverId } };
  const docs: Array<[DocumentType, string, string]> = [
    [DocumentType.NATIONAL_ID, "NATIONAL ID CARD", "CHIDI OKAFOR<br>NIN ••••• 4821"],
    [DocumentType.DRIVER_LICENSE, "DRIVER'S LICENCE", "CHIDI OKAFOR<br>LAG-208811"],
    [DocumentType.VEHICLE_REGISTRATION, "VEHICLE LICENCE", "KJA 123 TN · Toyota Hiace<br>Petrol · 60 L"],
  ];
  for (const [documentType, title, line] of docs) {
    await kyc.uploadDocument({ owner, documentType, content: await documentImage(title, line), fileName: `${title.toLowerCase().replace(/\W+/g, "-")}.png` }, idem());
  }
});

test.after(async () => {
  wire?.close();
  await browser?.close();
  await sys?.stop();
});

interface Watched {
  page: Page;
  context: BrowserContext;
  /** Console errors, CSP violations among them. */
  problems: string[];
}

async function open(viewport = { width: 1280, height: 860 }): Promise<Watched> {
  const context = await browser.newContext({ viewport });
  context.setDefaultTimeout(STEP_MS);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" && !/status of 4\d\d/.test(m.text())) problems.push(m.text());
  });
  page.on("pageerror", (e) => problems.push(e.message));
  return { page, context, problems };
}

/** Signs in as a person does, with the keyboard: phone, Enter, the code from the inbox, Enter. */
async function signIn(page: Page, phone: string): Promise<void> {
  await page.goto(`${base}/console/`);
  await page.getByRole("textbox", { name: "Phone number" }).fill(phone);
  const sent = new Date();
  await page.keyboard.press("Enter");
  const code = page.getByRole("textbox", { name: "Code" });
  try {
    await code.waitFor();
    await code.fill(await otpFor(sys, phone, sent));
    await page.keyboard.press("Enter");
    await page.getByTestId("role").waitFor();
  } catch (err) {
    await shot(page, `sign-in-failed-${phone}`);
    throw new Error(`sign-in of ${phone} failed; the page said: ${(await page.locator("main").innerText()).slice(0, 500)}`, { cause: err });
  }
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  if (process.env.UPDATE_CONSOLE_DOCS === "1" && ["kyc-review", "stations-phone"].includes(name)) {
    mkdirSync(DOCS, { recursive: true });
    copyFileSync(join(SHOTS, `${name}.png`), new URL(`${name}.png`, DOCS));
  }
}

test("the page has its own CSP without unsafe-inline; RPC answers keep default-src 'none'", async () => {
  const page = await fetch(`${sys.gatewayUrl}/console/`);
  assert.is(page.status, 200);
  const csp = page.headers.get("content-security-policy") ?? "";
  assert.ok(csp.includes("script-src 'self'"), csp);
  assert.ok(csp.includes("style-src 'self'"), csp);
  assert.ok(csp.includes("frame-ancestors 'none'"), csp);
  assert.not.match(csp, /unsafe-inline|unsafe-eval|\*/);
  assert.ok(page.headers.get("x-trace-id"));
  assert.match(await page.text(), /<script type="module" src="app.js">/);
  const script = await fetch(`${sys.gatewayUrl}/console/app.js`);
  assert.is(script.headers.get("content-type"), "text/javascript; charset=utf-8");
  assert.is((await fetch(`${sys.gatewayUrl}/console/../package.json`)).status, 404);
  assert.is((await fetch(`${sys.gatewayUrl}/console/src/main.ts`)).status, 404);
  const redirect = await fetch(`${sys.gatewayUrl}/console`, { redirect: "manual" });
  assert.is(redirect.status, 308);
  const rpc = await fetch(`${sys.gatewayUrl}/fuel.auth.v1.AuthService/GetJwks`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  assert.is(rpc.headers.get("content-security-policy"), "default-src 'none'; frame-ancestors 'none'");
});

test("the session endpoints refuse another origin, and answer errors with their ErrorInfo reason", async () => {
  const cross = await fetch(`${sys.gatewayUrl}/console/session/refresh`, { method: "POST", headers: { origin: "http://evil.example", "content-type": "application/json" }, body: "{}" });
  assert.is(cross.status, 403);
  const wrong = await fetch(`${sys.gatewayUrl}/console/session/verify`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ phone: world.officerPhone, code: "000000" }) });
  assert.is(wrong.status, 401);
  const body = (await wrong.json()) as { code: string; details?: Array<{ type: string }> };
  assert.is(body.code, "unauthenticated");
  assert.ok(body.details?.some((d) => d.type === "google.rpc.ErrorInfo"));
  assert.is(wrong.headers.get("set-cookie"), null);
  const noCookie = await fetch(`${sys.gatewayUrl}/console/session/refresh`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  assert.is(noCookie.status, 401);
});

if (!HAVE_CHROMIUM && process.env.CI === "true") {
  test("Chromium is installed (.ci/run installs Debian's chromium)", () => assert.unreachable(`no browser at ${CHROMIUM}`));
} else if (!HAVE_CHROMIUM) {
  process.stdout.write(`\n  console: no Chromium at ${CHROMIUM} (apt-get install chromium, or CHROMIUM_PATH).\n  The browser scenarios did not run here; CI runs them.\n`);
} else {
  browserScenarios();
}

function browserScenarios(): void {
  test("an officer signs in with the code from the dev inbox, approves a driver's documents and opens a line", async () => {
    const { page, context, problems } = await open();
    try {
      await signIn(page, world.officerPhone);
      assert.is(await page.getByTestId("role").textContent(), "Bank credit officer");
      await page.waitForURL(/#\/kyc$/);

      // Tokens: memory and an HttpOnly cookie only.
      const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
      assert.is(stored, "{}{}");
      const cookies = await context.cookies();
      const refresh = cookies.find((c) => c.name === "fuel_console_refresh");
      assert.ok(refresh, "the refresh cookie is set");
      assert.is(refresh!.httpOnly, true);
      assert.is(refresh!.secure, true);
      assert.is(refresh!.sameSite, "Strict");
      assert.is(refresh!.path, "/console/session/");

      // The review queue, the documents shown inline.
      await page.getByRole("button", { name: /Driver Chidi Okafor/ }).click();
      const cards = page.locator("article.doc");
      await cards.nth(2).waitFor();
      assert.is(await cards.count(), 3);
      await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>("article.doc img")].filter((i) => i.complete && i.naturalWidth > 0).length === 3);
      await shot(page, "kyc-review");
      for (let i = 0; i < 3; i++) {
        await page.locator("article.doc").nth(i).getByRole("button", { name: "Approve" }).click();
        await page.locator("article.doc").nth(i).getByText("Approved").waitFor();
      }
      await page.getByText("KYC now: Verified").waitFor();

      // Reloading keeps the session (the refresh cookie), and the page still holds no token.
      await page.reload();
      await page.getByTestId("role").waitFor();

      // The credit picture, and a line opened at the bank's policy limit.
      await page.goto(`${base}/console/#/credit/driver/${world.driver.principal.driverId}`);
      await page.getByRole("button", { name: "Open the line" }).click();
      const line = page.locator("article.line");
      await line.waitFor();
      await line.getByText("NGN 250,000.00").first().waitFor();
      await page.locator("section[aria-label=Risk]").getByText("Why this score").waitFor();
      await line.getByText("No holds on this line.").waitFor();
      await shot(page, "credit-picture");

      // Someone else changes the limit after the page read the line: the page says so.
      const lineId = (await line.getAttribute("data-line"))!;
      const credit = connectJson(CreditService, sys.gatewayUrl, world.officerToken);
      const current = (await credit.getCreditLine({ creditLineId: lineId })).creditLine!;
      await credit.updateCreditLimit({ creditLineId: lineId, expectedVersion: current.version, limit: { amountMinor: 20_000_000n, currency: "NGN" }, reason: "desk review" }, idem());
      await line.getByText("Change the limit").click();
      await line.getByLabel("New limit (NGN)").fill("150000");
      await line.getByLabel("Reason").fill("first month");
      await line.getByRole("button", { name: "Save the limit" }).click();
      await page.getByTestId("version-conflict").waitFor();
      assert.match(await page.getByTestId("version-conflict").textContent() ?? "", /Version conflict/);
      await page.getByRole("button", { name: "Reload the line" }).click();
      await page.locator("article.line").getByText("NGN 200,000.00").first().waitFor();
      await shot(page, "credit-conflict-reloaded");

      await page.goto(`${base}/console/#/aging`);
      await page.getByText("No open loans.").waitFor();
      assert.equal(problems, []);
    } finally {
      await context.close();
    }
  });

  test("a merchant admin on a phone changes a price, issues a terminal (secret shown once), finds it listed and revokes it", async () => {
    const { page, context, problems } = await open({ width: 390, height: 844 });
    try {
      await signIn(page, world.merchantPhone);
      await page.waitForURL(/#\/stations$/);
      const station = page.locator("article.station");
      await station.getByText("NGN 897.00").waitFor();
      await station.getByText("Change a price").click();
      await station.getByLabel("Fuel").selectOption({ label: "Petrol" });
      await station.getByLabel("Price per litre (NGN)").fill("955.50");
      await station.getByRole("button", { name: "Save the price" }).click();
      await station.getByText("NGN 955.50").waitFor();
      const avail = await connectJson(StationService, sys.gatewayUrl, world.officerToken).getAvailability({ stationId: world.stationId });
      assert.is(avail.availability!.fuels.find((f) => f.fuelType === FuelType.PETROL)!.priceMinorPerLitre, 95_550n);
      await shot(page, "stations-phone");

      await page.getByRole("link", { name: "Terminals" }).click();
      await page.getByLabel("Label").fill("Pump 1 terminal");
      await page.getByRole("button", { name: "Issue" }).click();
      const clientId = (await page.getByTestId("client-id").textContent())!;
      const secret = (await page.getByTestId("client-secret").textContent())!;
      await shot(page, "terminal-secret");
      const terminal = await wire.must("grpc", AuthService.method.exchangeClientCredentials, { clientId, clientSecret: secret });
      assert.is(terminal.principal!.stationId, world.stationId);
      await page.getByRole("button", { name: /hide it/ }).click();
      assert.is(await page.getByTestId("client-secret").count(), 0);
      assert.not.ok((await page.content()).includes(secret), "the secret is gone from the page");

      // The list comes from the server (ListMachineCredentials), so a reload still shows the
      // terminal, with its station's name, and never its secret.
      const row = page.getByRole("row", { name: /Pump 1 terminal/ });
      await row.waitFor();
      await page.reload();
      await page.getByTestId("role").waitFor();
      await row.waitFor();
      assert.ok((await row.textContent())!.includes(clientId));
      await row.getByText("Marina Road").waitFor();
      assert.not.ok((await page.content()).includes(secret), "the secret is not listed");
      await shot(page, "terminals-list");

      // Revoked, it leaves the list of active terminals, and shows as revoked when asked for.
      await row.getByRole("button", { name: "Revoke" }).click();
      await page.getByText("Revoked Pump 1 terminal.").waitFor();
      await row.waitFor({ state: "detached" });
      await page.getByLabel("Show revoked").check();
      await row.getByText("Revoked").waitFor();
      assert.is(await row.getByRole("button", { name: "Revoke" }).count(), 0);
      await fails(connectJson(AuthService, sys.gatewayUrl).exchangeClientCredentials({ clientId, clientSecret: secret }), Code.Unauthenticated, "CLIENT_CREDENTIALS_INVALID");

      // Officers' screens are not offered to a merchant.
      assert.is(await page.getByRole("link", { name: "KYC review" }).count(), 0);
      await page.getByRole("button", { name: "Sign out" }).click();
      await page.getByRole("textbox", { name: "Phone number" }).waitFor();
      assert.is((await context.cookies()).find((c) => c.name === "fuel_console_refresh"), undefined);
      assert.equal(problems, []);
    } finally {
      await context.close();
    }
  });

  test("a driver cannot reach the officer's screens: the page says so and the server refused", async () => {
    const { page, context, problems } = await open();
    // The driver was sent a code at sign-up: a new one is sent only after the resend cooldown.
    sys.clock.advance(31_000);
    try {
      await signIn(page, world.driver.phone!);
      await page.getByText("Nothing here for your role").waitFor();
      assert.is(await page.locator("header nav a").count(), 0);
      const refused = page.waitForResponse((r) => r.url().endsWith("/fuel.kyc.v1.KycService/ListDrivers"));
      await page.goto(`${base}/console/#/kyc`);
      await page.getByTestId("forbidden").waitFor();
      assert.is((await refused).status(), 403);
      await page.getByTestId("server-answer").getByText("ROLE_NOT_ALLOWED").waitFor();
      assert.match(await page.getByTestId("server-answer").textContent() ?? "", /server refused/);
      await shot(page, "driver-refused");
      assert.equal(problems, []);
    } finally {
      await context.close();
    }
  });

  test("a system admin sees banks, merchants and staff, runs the ledger audit and reads the outboxes", async () => {
    const { page, context, problems } = await open();
    try {
      await signIn(page, world.adminPhone);
      assert.is(await page.getByTestId("role").textContent(), "System admin");
      await page.goto(`${base}/console/#/admin`);
      await page.locator("#banks").getByText("Lagos Fuel Bank").waitFor();
      await page.locator("#merchants").getByText("Marina Fuels").waitFor();
      await page.locator("#users").getByText("Ada Officer").waitFor();
      await page.getByRole("button", { name: "Run the audit" }).click();
      assert.is(await page.getByTestId("ledger-result").textContent(), "Consistent");
      for (const outbox of ["kyc", "loan", "payment", "notification", "transaction"]) {
        assert.is(await page.getByTestId(`given-up-${outbox}`).textContent(), "0", `${outbox} outbox read`);
      }
      await shot(page, "admin");
      assert.equal(problems, []);
    } finally {
      await context.close();
    }
  });
}

test.run();
