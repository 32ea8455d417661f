// Every method of every service declares its access policy in the contract. This walks
// all descriptors, so a new RPC without a policy fails here before it can ship.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Role } from "../gen/fuel/common/v1/common_pb.js";
import { decide, hasPolicy, policyOf, publicMethods } from "../platform/policy.js";
import { ALL_SERVICES } from "../services/registry.js";
import { anonymousPrincipal } from "../platform/context.js";

const test = suite("policy");

test("the registry holds all eight domain services", () => {
  assert.equal(ALL_SERVICES.map((s) => s.typeName).sort(), [
    "fuel.auth.v1.AuthService",
    "fuel.credit.v1.CreditService",
    "fuel.kyc.v1.KycService",
    "fuel.loan.v1.LoanService",
    "fuel.notification.v1.NotificationService",
    "fuel.payment.v1.PaymentService",
    "fuel.station.v1.StationService",
    "fuel.transaction.v1.TransactionService",
  ]);
});

test("every method of every service declares a policy", () => {
  const missing = ALL_SERVICES.flatMap((s) => s.methods.filter((m) => !hasPolicy(m)).map((m) => `${s.typeName}/${m.name}`));
  assert.equal(missing, [], `methods without fuel.common.v1.policy: ${missing.join(", ")}`);
  const count = ALL_SERVICES.reduce((n, s) => n + s.methods.length, 0);
  assert.ok(count > 80, `expected the full API, found ${count} methods`);
});

test("policies are coherent", () => {
  for (const s of ALL_SERVICES) {
    for (const m of s.methods) {
      const p = policyOf(m);
      const name = `${s.typeName}/${m.name}`;
      if (p.movesMoney) assert.ok(p.mutating, `${name}: moves money but is not mutating`);
      if (p.internal) assert.equal(p.roles, [Role.SERVICE], `${name}: internal methods are for services only`);
      if (p.anonymous) assert.equal(p.roles, [], `${name}: anonymous methods list no roles`);
      if (!p.anonymous) assert.ok(p.roles.length > 0, `${name}: no role may call it`);
      assert.not.ok(p.roles.includes(Role.UNSPECIFIED), `${name}: grants ROLE_UNSPECIFIED`);
    }
  }
});

test("internal methods are never public", () => {
  for (const s of ALL_SERVICES) {
    for (const m of publicMethods(s)) assert.not.ok(policyOf(m).internal, `${s.typeName}/${m.name}`);
  }
  const internal = ALL_SERVICES.flatMap((s) => s.methods.filter((m) => policyOf(m).internal));
  assert.ok(internal.length >= 5, "credit holds, loan creation and repayment application are internal");
});

test("decide: roles, anonymous, internal, and the gateway gets no service rights", () => {
  const driver = { ...anonymousPrincipal(), subjectId: "u1", role: Role.DRIVER };
  const base = { roles: [Role.SYSTEM_ADMIN, Role.SERVICE], anonymous: false, internal: false, mutating: false, movesMoney: false } as never;
  assert.equal(decide(base, null, null), { allow: false, code: "UNAUTHENTICATED", reason: "CREDENTIALS_REQUIRED" });
  assert.equal(decide(base, driver, null), { allow: false, code: "PERMISSION_DENIED", reason: "ROLE_NOT_ALLOWED" });
  assert.equal(decide(base, null, "kyc"), { allow: true });
  assert.equal(decide(base, null, "gateway").allow, false);
  const internal = { ...(base as object), roles: [Role.SERVICE], internal: true } as never;
  assert.equal(decide(internal, driver, null).allow, false);
  assert.equal(decide(internal, driver, "gateway").allow, false);
  assert.equal(decide(internal, null, "transaction").allow, true);
  const open = { ...(base as object), roles: [], anonymous: true } as never;
  assert.equal(decide(open, null, null).allow, true);
});

test.run();
