// Machine credentials: a station POS terminal (bound to station + merchant) or a bank
// core system (bound to a bank) exchanges a client id + secret for a scoped access
// token. The secret is 32 random bytes shown once and stored as SHA-256 (a hash of a
// 256-bit random value needs no slow KDF); it is compared in constant time.
import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext } from "@connectrpc/connect";
import {
  CreateMachineCredentialResponseSchema,
  ExchangeClientCredentialsResponseSchema,
  MachineKind,
  RevokeMachineCredentialResponseSchema,
  type CreateMachineCredentialRequest,
  type ExchangeClientCredentialsRequest,
  type RevokeMachineCredentialRequest,
} from "../../gen/fuel/auth/v1/auth_pb.js";
import { Role } from "../../gen/fuel/common/v1/common_pb.js";
import { callInfo, principalOf } from "../../platform/context.js";
import { invalidArgument, notFound, permissionDenied, unauthenticated } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { requireOrganization, requireStationOfMerchant } from "./bindings.js";
import { machineMsg, principalMsg, principalOfMachine } from "./convert.js";
import { canManageMachine, type MachineKindName } from "./grant-rules.js";
import { CLIENT_CREDENTIAL_FAILURES_PER_IP } from "./limits.js";
import type { Sessions } from "./session.js";
import * as store from "./store.js";

const LABEL_MAX = 100;
const CLIENT_FIELD_MAX = 256;
/** Compared against when the client id is unknown, so both paths cost the same. */
const DUMMY_HASH = hashSecret(randomBytes(32).toString("base64url"));

export function newClientSecret(): string {
  return randomBytes(32).toString("base64url");
}

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), "hex");
  const b = Buffer.from(storedHash, "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}

function mustBeEmpty(field: string, value: string, kind: string): void {
  if (value !== "") throw invalidArgument(field, `must be empty for ${kind}`);
}

export const createMachineCredential = (deps: ServiceDeps) => async (req: CreateMachineCredentialRequest, ctx: HandlerContext) => {
  const caller = principalOf(ctx);
  const kindValue = v.enumValue("kind", req.kind, MachineKind);
  let kind: MachineKindName;
  let stationId: string | null = null;
  let merchantId: string | null = null;
  let bankId: string | null = null;
  if (kindValue === MachineKind.POS_TERMINAL) {
    kind = "POS_TERMINAL";
    stationId = v.uuid("station_id", req.stationId);
    merchantId = v.uuid("merchant_id", req.merchantId);
    mustBeEmpty("bank_id", req.bankId, "MACHINE_KIND_POS_TERMINAL");
  } else {
    kind = "BANK_SYSTEM";
    bankId = v.uuid("bank_id", req.bankId);
    mustBeEmpty("station_id", req.stationId, "MACHINE_KIND_BANK_SYSTEM");
    mustBeEmpty("merchant_id", req.merchantId, "MACHINE_KIND_BANK_SYSTEM");
  }
  const label = v.text("label", req.label, 1, LABEL_MAX);
  if (!canManageMachine(caller, { kind, merchantId, bankId })) {
    throw permissionDenied("ORGANIZATION_MISMATCH", "you may issue credentials for your own organisation only");
  }
  // The caller's right over the organisation is settled above; what it names must also
  // exist and belong together, or a token would carry a station of someone else's.
  if (kind === "POS_TERMINAL") await requireStationOfMerchant(deps, stationId!, merchantId!);
  else await requireOrganization(deps, Role.BANK_SYSTEM, bankId!);
  const secret = newClientSecret();
  const row = await store.insertMachine(deps.pool, {
    clientId: randomUUID(),
    secretHash: hashSecret(secret),
    kind,
    stationId,
    merchantId,
    bankId,
    label,
    createdBy: caller.subjectId,
    createTime: deps.now(),
  });
  return create(CreateMachineCredentialResponseSchema, { credential: machineMsg(row), clientSecret: secret });
};

export const revokeMachineCredential = (deps: ServiceDeps) => async (req: RevokeMachineCredentialRequest, ctx: HandlerContext) => {
  const caller = principalOf(ctx);
  const clientId = v.uuid("client_id", req.clientId);
  const existing = await store.machineById(deps.pool, clientId);
  if (!existing || !canManageMachine(caller, { kind: existing.kind, merchantId: existing.merchant_id, bankId: existing.bank_id })) {
    throw notFound("machine credential");
  }
  const row = await store.revokeMachine(deps.pool, clientId);
  return create(RevokeMachineCredentialResponseSchema, { credential: machineMsg(row ?? existing) });
};

export const exchangeClientCredentials = (deps: ServiceDeps, sessions: Sessions) => async (req: ExchangeClientCredentialsRequest, ctx: HandlerContext) => {
  if (req.clientId === "") throw invalidArgument("client_id", "is required");
  if (req.clientId.length > CLIENT_FIELD_MAX) throw invalidArgument("client_id", `must be at most ${CLIENT_FIELD_MAX} characters`);
  if (req.clientSecret === "") throw invalidArgument("client_secret", "is required");
  if (req.clientSecret.length > CLIENT_FIELD_MAX) throw invalidArgument("client_secret", `must be at most ${CLIENT_FIELD_MAX} characters`);
  const ip = callInfo(ctx).clientIp || "unknown";
  const budget = CLIENT_CREDENTIAL_FAILURES_PER_IP;

  // Client ids are UUIDs; anything else cannot match and is answered like a wrong secret.
  const row = /^[0-9a-f-]{36}$/i.test(req.clientId) ? await store.machineById(deps.pool, req.clientId.toLowerCase()) : undefined;
  const matches = secretMatches(req.clientSecret, row?.secret_hash ?? DUMMY_HASH);
  if (!row || !matches || !row.active) {
    // Only failures are counted and refused. A station's terminals share its one public
    // address (and carriers share theirs): if one terminal with a stale secret could
    // lock the address, every terminal there would stop selling for the window. A
    // right secret cannot be guessed (256 random bits, compared as a hash), so letting
    // it through from a noisy address costs nothing; the refusal marks the address
    // for whoever watches the logs, and the edge's per-caller budget bounds the rate.
    await deps.limits.consume(budget.name, ip, budget.points, budget.durationS, "CLIENT_CREDENTIALS_RATE_LIMITED", 1);
    throw unauthenticated("CLIENT_CREDENTIALS_INVALID", "client credentials invalid");
  }
  const p = principalOfMachine(row);
  const access = await sessions.accessToken(p);
  return create(ExchangeClientCredentialsResponseSchema, {
    accessToken: access.token,
    expiresAt: timestampFromDate(access.expiresAt),
    principal: principalMsg(p),
  });
};
