// A bank core system's client of the clearinghouse: gRPC over one HTTP/2 connection to
// the public gateway, signed with the bank system's machine credential, every change
// keyed for idempotency and retried safely, every failure a FuelApiError.
import type * as http2 from "node:http2";
import type { DescService } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { bearer } from "./auth.js";
import { ClientCredentials } from "./client-credentials.js";
import { FuelApiError } from "./errors.js";
import { AuthService, type Principal } from "./gen/fuel/auth/v1/auth_pb.js";
import { CreditService } from "./gen/fuel/credit/v1/credit_pb.js";
import { KycService } from "./gen/fuel/kyc/v1/kyc_pb.js";
import { LoanService } from "./gen/fuel/loan/v1/loan_pb.js";
import { PaymentService } from "./gen/fuel/payment/v1/payment_pb.js";
import { StationService } from "./gen/fuel/station/v1/station_pb.js";
import { TransactionService } from "./gen/fuel/transaction/v1/transaction_pb.js";
import { idempotencyKeys } from "./idempotency.js";
import { retrying } from "./retry.js";
import { retrySettings, type RetryOptions } from "./retry-policy.js";
import { withTypedErrors } from "./typed-errors.js";

export interface BankClientOptions {
  /** The clearinghouse's public address, e.g. "https://api.fuel.example" or "http://localhost:8080". */
  baseUrl: string;
  /** Client id of the bank system's machine credential (AuthService.CreateMachineCredential). */
  clientId: string;
  /** Its secret, shown once when the credential was issued. */
  clientSecret: string;
  /** Deadline of a call, all its attempts included, unless the call sets `timeoutMs`. Default 10,000 ms. */
  timeoutMs?: number;
  /** How failed calls are retried (retry-policy.ts). */
  retry?: RetryOptions;
  /** Renew the access token at most this long before it expires. Default 60,000 ms. */
  refreshMarginMs?: number;
  /** Your own interceptors (logs, metrics). They run innermost: every attempt, signed and keyed. */
  interceptors?: Interceptor[];
  /** Options of the HTTP/2 connection, e.g. `ca`, `cert` and `key` for TLS. */
  nodeOptions?: http2.SecureClientSessionOptions;
  /** Wall clock that token expiry is read against, in ms since the epoch. For tests. */
  now?: () => number;
  /** Randomness of the backoff jitter, in [0, 1). For tests. */
  random?: () => number;
}

export interface BankClient {
  /** Who am I (GetMe); a bank administers its own users and machine credentials here too. */
  auth: Client<typeof AuthService>;
  /** Credit policies, risk assessments, credit lines and their limits and controls, the ledger. */
  credit: Client<typeof CreditService>;
  /** Loan products, loans, statements, repayments received by the bank. */
  loans: Client<typeof LoanService>;
  /** Payments repaying the bank's loans (read-only for a bank). */
  payments: Client<typeof PaymentService>;
  /** Drivers, agencies and their KYC status (read-only for a bank). */
  kyc: Client<typeof KycService>;
  /** Stations and prices (read-only). */
  stations: Client<typeof StationService>;
  /** Fuel transactions on the bank's lines (read-only). */
  transactions: Client<typeof TransactionService>;
  /** Who the credential speaks for (ROLE_BANK_SYSTEM and the bank's id), from the token exchange. */
  principal(): Promise<Principal>;
  /** Closes the connection; the client is not to be used afterwards. */
  close(): void;
}

const DEFAULT_TIMEOUT_MS = 10_000;

export function createBankClient(opts: BankClientOptions): BankClient {
  if (!opts.clientId || !opts.clientSecret) throw new TypeError("clientId and clientSecret are required");
  const settings = retrySettings(opts.retry);
  const session = new Http2SessionManager(opts.baseUrl, {}, opts.nodeOptions);
  const transport = (interceptors: Interceptor[]): Transport =>
    createGrpcTransport({
      baseUrl: opts.baseUrl,
      sessionManager: session,
      defaultTimeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      interceptors,
    });
  // Retries measure deadlines on a monotonic clock; only token expiry needs the wall clock.
  const retry = retrying(settings, { now: () => performance.now(), random: opts.random ?? Math.random });
  const user = opts.interceptors ?? [];

  const exchange = createClient(AuthService, transport([retry, ...user]));
  const credentials = new ClientCredentials(
    async () => {
      try {
        const res = await exchange.exchangeClientCredentials({ clientId: opts.clientId, clientSecret: opts.clientSecret });
        if (!res.expiresAt) throw new Error("the token exchange answered without expires_at");
        return { accessToken: res.accessToken, expiresAtMs: timestampMs(res.expiresAt), principal: res.principal };
      } catch (err) {
        throw FuelApiError.from(err);
      }
    },
    { refreshMarginMs: opts.refreshMarginMs, now: opts.now },
  );

  // Outermost first: the key is chosen once per call, then attempts, then each attempt signed.
  const api = transport([idempotencyKeys(), retry, bearer(credentials), ...user]);
  const service = <S extends DescService>(s: S) => withTypedErrors(s, createClient(s, api));
  return {
    auth: service(AuthService),
    credit: service(CreditService),
    loans: service(LoanService),
    payments: service(PaymentService),
    kyc: service(KycService),
    stations: service(StationService),
    transactions: service(TransactionService),
    async principal() {
      const p = await credentials.principal();
      if (!p) throw new Error("the token exchange answered without a principal");
      return p;
    },
    close: () => session.abort(),
  };
}
