// Configuration is validated at start and every mistake is named in one message.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ConfigError, loadConfig } from "../platform/config.js";

const test = suite("config");

test("defaults work on a machine with nothing configured", () => {
  const cfg = loadConfig({});
  assert.equal(cfg.gatewayPort, 8080);
  assert.equal(cfg.services.length, 8);
  assert.ok(cfg.gateway);
  assert.is(cfg.databaseUrl, undefined);
  assert.ok(cfg.accessTokenTtlSeconds <= 900);
});

test("every bad value is reported together", () => {
  try {
    loadConfig({
      PORT: "eighty",
      DATABASE_URL: "mysql://x",
      SERVICES: "auth,billing",
      ACCESS_TOKEN_TTL_SECONDS: "3600",
      LOG_LEVEL: "loud",
      TLS_CERT_FILE: "/tmp/cert.pem",
      BOOTSTRAP_ADMIN_PHONE: "0800",
    });
    assert.unreachable("should have thrown");
  } catch (err) {
    assert.instance(err, ConfigError);
    const msg = (err as Error).message;
    for (const needle of ["PORT", "DATABASE_URL", 'unknown service "billing"', "ACCESS_TOKEN_TTL_SECONDS", "LOG_LEVEL", "TLS_KEY_FILE", "BOOTSTRAP_ADMIN_PHONE"]) {
      assert.ok(msg.includes(needle), `message should name ${needle}: ${msg}`);
    }
    assert.equal((err as ConfigError).problems.length, 7);
  }
});

test("production refuses development defaults", () => {
  try {
    loadConfig({ NODE_ENV: "production" });
    assert.unreachable("should have thrown");
  } catch (err) {
    const msg = (err as Error).message;
    for (const needle of ["MESH_SECRET", "OTP_HMAC_KEY", "PII_ENCRYPTION_KEY", "DATABASE_URL", "REDIS_URL"]) assert.ok(msg.includes(needle), needle);
  }
});

test("SERVICES picks a subset and whether the gateway runs", () => {
  const cfg = loadConfig({ SERVICES: "kyc,notification" });
  assert.equal(cfg.services, ["kyc", "notification"]);
  assert.not.ok(cfg.gateway);
  assert.ok(loadConfig({ SERVICES: "gateway" }).gateway);
});

test.run();
