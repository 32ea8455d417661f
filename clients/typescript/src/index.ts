// @fuel/bank-client: the clearinghouse's gRPC API for a bank's core system. The client
// (createBankClient), its typed errors and idempotency helpers, and the generated
// messages and enums a bank works with. The rest of the generated code (stations,
// transactions, notifications) is under "@fuel/bank-client/gen/fuel/<domain>/v1/<file>_pb.js".
export { createBankClient, type BankClient, type BankClientOptions } from "./client.js";
export { FuelApiError, isFuelApiError, ERROR_DOMAIN, type FieldViolation } from "./errors.js";
export { KNOWN_REASONS, isKnownReason, type FuelReason, type KnownReason } from "./reasons.js";
export { withIdempotencyKey, isMutating, movesMoney, IDEMPOTENCY_HEADER, REPLAYED_HEADER } from "./idempotency.js";
export type { RetryOptions } from "./retry-policy.js";
export { Code } from "@connectrpc/connect";

export * from "./gen/fuel/common/v1/common_pb.js";
export * from "./gen/fuel/auth/v1/auth_pb.js";
export * from "./gen/fuel/credit/v1/credit_pb.js";
export * from "./gen/fuel/credit/v1/credit_line_pb.js";
export * from "./gen/fuel/credit/v1/ledger_pb.js";
export * from "./gen/fuel/credit/v1/risk_pb.js";
export * from "./gen/fuel/loan/v1/loan_pb.js";
export * from "./gen/fuel/payment/v1/payment_pb.js";
export * from "./gen/fuel/kyc/v1/kyc_pb.js";
