// Configuration is validated at start and every mistake is named in one message.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ConfigError, loadConfig } from "../platform/config.js";
import { authSettingsFromEnv } from "../services/auth/settings.js";
import { kycSettingsFromEnv } from "../services/kyc/settings.js";
import { notificationSettingsFromEnv } from "../services/notification/settings.js";
import { paymentSettingsFromEnv } from "../services/payment/settings.js";
import { settingsFromEnv as transactionSettingsFromEnv } from "../services/transaction/settings.js";

const test = suite("config");

test("defaults work on a machine with nothing configured", () => {
  const cfg = loadConfig({});
  assert.equal(cfg.gatewayPort, 8080);
  assert.equal(cfg.services.length, 8);
  assert.ok(cfg.gateway);
  assert.is(cfg.databaseUrl, undefined);
});

test("every bad value is reported together", () => {
  try {
    loadConfig({
      PORT: "eighty",
      DATABASE_URL: "mysql://x",
      SERVICES: "auth,billing",
      LOG_LEVEL: "loud",
      TLS_CERT_FILE: "/tmp/cert.pem",
    });
    assert.unreachable("should have thrown");
  } catch (err) {
    assert.instance(err, ConfigError);
    const msg = (err as Error).message;
    for (const needle of ["PORT", "DATABASE_URL", 'unknown service "billing"', "LOG_LEVEL", "TLS_KEY_FILE"]) {
      assert.ok(msg.includes(needle), `message should name ${needle}: ${msg}`);
    }
    assert.equal((err as ConfigError).problems.length, 5);
  }
});

test("production refuses development defaults", () => {
  try {
    loadConfig({ NODE_ENV: "production" });
    assert.unreachable("should have thrown");
  } catch (err) {
    const msg = (err as Error).message;
    for (const needle of ["MESH_SECRET", "DATABASE_URL", "REDIS_URL"]) assert.ok(msg.includes(needle), needle);
  }
});

test("a service's own settings: AuthService's and KycService's, each mistake named, keys required in production", () => {
  const auth = authSettingsFromEnv({});
  assert.ok(auth.accessTokenTtlSeconds <= 900);
  assert.is(auth.otpHmacKey.length, 32, "a random development key");
  const named = (f: () => unknown, needles: string[]) => {
    try {
      f();
      assert.unreachable("should have thrown");
    } catch (err) {
      assert.instance(err, ConfigError);
      for (const n of needles) assert.match((err as Error).message, n);
      assert.is((err as ConfigError).problems.length, needles.length);
    }
  };
  named(() => authSettingsFromEnv({ ACCESS_TOKEN_TTL_SECONDS: "3600", BOOTSTRAP_ADMIN_PHONE: "0800", OTP_HMAC_KEY: "c2hvcnQ=" }), ["ACCESS_TOKEN_TTL_SECONDS", "BOOTSTRAP_ADMIN_PHONE", "OTP_HMAC_KEY"]);
  named(() => authSettingsFromEnv({ NODE_ENV: "production" }), ["OTP_HMAC_KEY"]);
  named(() => kycSettingsFromEnv({ NODE_ENV: "production" }), ["PII_ENCRYPTION_KEY"]);
  assert.is(kycSettingsFromEnv({ STORAGE_DIR: "/var/lib/fuel/documents" }).storageDir, "/var/lib/fuel/documents");
});

test("PaymentService's, NotificationService's and TransactionService's settings: each mistake named in a ConfigError", () => {
  const named = (f: () => unknown, needles: string[]) => {
    try {
      f();
      assert.unreachable("should have thrown");
    } catch (err) {
      assert.instance(err, ConfigError);
      for (const n of needles) assert.match((err as Error).message, n);
      assert.is((err as ConfigError).problems.length, needles.length, String(err));
    }
  };
  const payment = paymentSettingsFromEnv({ PAYMENT_WEBHOOK_SECRETS: " webhook-secret-0123456789 , webhook-secret-abcdefghij " });
  assert.equal([payment.gatewayName, payment.gatewayUrl, payment.webhookSecrets], ["simulated", undefined, ["webhook-secret-0123456789", "webhook-secret-abcdefghij"]]);
  named(() => paymentSettingsFromEnv({ PAYMENT_GATEWAY_NAME: "Pay Stack", PAYMENT_WEBHOOK_SECRETS: "short", PAYMENT_GATEWAY_URL: "ftp://gw", PAYMENT_SYNC_BATCH: "0" }), [
    "PAYMENT_GATEWAY_NAME must be 1 to 40",
    "PAYMENT_WEBHOOK_SECRETS entries must be at least 16 characters",
    "PAYMENT_GATEWAY_URL must use http: or https:",
    "PAYMENT_SYNC_BATCH",
  ]);
  named(() => paymentSettingsFromEnv({ NODE_ENV: "production" }), ["PAYMENT_WEBHOOK_SECRETS is required when NODE_ENV=production"]);
  assert.equal(loadConfig({ SERVICES: "payment", PAYMENT_GATEWAY_NAME: "Pay Stack", PAYMENT_WEBHOOK_SECRETS: "short" }).services, ["payment"], "the shared configuration leaves them to the service");

  assert.equal(notificationSettingsFromEnv({}), { smtpUrl: undefined, smsApiUrl: undefined, pushApiUrl: undefined });
  named(() => notificationSettingsFromEnv({ SMTP_URL: "https://mail", SMS_API_URL: "not a url", PUSH_API_URL: "https://push.example" }), ["SMTP_URL must use smtp: or smtps:", "SMS_API_URL is not a valid URL"]);

  const transaction = transactionSettingsFromEnv(30_000, { TRANSACTION_CRASH_AT: "after-hold*2" });
  assert.is(transaction.crashPoint("after-void"), undefined, "a point not listed passes");
  named(() => transactionSettingsFromEnv(30_000, { TRANSACTION_CRASH_AT: "after-hodl", TRANSACTION_QR_TTL_SECONDS: "5" }), ["TRANSACTION_QR_TTL_SECONDS", "TRANSACTION_CRASH_AT: unknown point after-hodl"]);
  assert.is(transactionSettingsFromEnv(30_000, { NODE_ENV: "production", TRANSACTION_CRASH_AT: "after-hold" }).crashPoint("after-hold"), undefined, "never honoured in production");
});

test("SERVICES picks a subset and whether the gateway runs", () => {
  const cfg = loadConfig({ SERVICES: "kyc,notification" });
  assert.equal(cfg.services, ["kyc", "notification"]);
  assert.not.ok(cfg.gateway);
  assert.ok(loadConfig({ SERVICES: "gateway" }).gateway);
});

test.run();
