// The public RPCs, called as any other client calls them: Connect JSON through the
// gateway, with the generated service descriptors. Two interceptors add what every
// client adds: the bearer token (refreshed once and retried on UNAUTHENTICATED), and a
// fresh idempotency key on methods whose contract says they mutate.
import { getOption, type DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AuthService } from "../../gen/fuel/auth/v1/auth_pb.js";
import { policy, Role } from "../../gen/fuel/common/v1/common_pb.js";
import { CreditService } from "../../gen/fuel/credit/v1/credit_pb.js";
import { KycService } from "../../gen/fuel/kyc/v1/kyc_pb.js";
import { LoanService } from "../../gen/fuel/loan/v1/loan_pb.js";
import { NotificationService } from "../../gen/fuel/notification/v1/notification_pb.js";
import { PaymentService } from "../../gen/fuel/payment/v1/payment_pb.js";
import { StationService } from "../../gen/fuel/station/v1/station_pb.js";
import { TransactionService } from "../../gen/fuel/transaction/v1/transaction_pb.js";
import { accessToken, refresh, session } from "./session.js";

/** No screen waits longer than this for one call. */
const CALL_TIMEOUT_MS = 15_000;

const bearer: Interceptor = (next) => async (req) => {
  const token = accessToken();
  if (token) req.header.set("authorization", `Bearer ${token}`);
  try {
    return await next(req);
  } catch (err) {
    if (!token || ConnectError.from(err).code !== Code.Unauthenticated || !(await refresh())) throw err;
    req.header.set("authorization", `Bearer ${accessToken()}`);
    return await next(req);
  }
};

const idempotencyKey: Interceptor = (next) => (req) => {
  if (getOption(req.method as DescMethod, policy).mutating && !req.header.has("idempotency-key")) {
    req.header.set("idempotency-key", crypto.randomUUID());
  }
  return next(req);
};

const transport = createConnectTransport({
  baseUrl: location.origin,
  interceptors: [idempotencyKey, bearer],
  defaultTimeoutMs: CALL_TIMEOUT_MS,
});

export const auth = createClient(AuthService, transport);
export const kyc = createClient(KycService, transport);
export const credit = createClient(CreditService, transport);
export const loans = createClient(LoanService, transport);
export const payments = createClient(PaymentService, transport);
export const stations = createClient(StationService, transport);
export const notifications = createClient(NotificationService, transport);
export const transactions = createClient(TransactionService, transport);

/**
 * Whether the contract lets the signed-in role call `method`: actions the role may not
 * take are not offered. The server decides regardless.
 */
export function may(method: DescMethod): boolean {
  const role = session()?.principal.role ?? Role.UNSPECIFIED;
  return getOption(method, policy).roles.includes(role);
}
