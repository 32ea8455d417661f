// InitiatePayment (DRIVER, AGENCY_ADMIN): records a PENDING payment over the payer's
// loans, creates it at the gateway and returns the checkout URL. Nothing is applied to
// any loan until the gateway confirms (webhook or sync).
//
// Exactly-once, even when Redis forgets the key: the payment row is unique per
// (caller, idempotency key), so a retry finds the same payment; the gateway is asked
// with Idempotency-Key = payment_id, so it never creates a second charge; the final
// response is stored under the Postgres guard. If the gateway is down the payment stays
// PENDING without a checkout and the client retries with the same key.
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { Role } from "../../gen/fuel/common/v1/common_pb.js";
import { LoanService, LoanStatus, type Loan } from "../../gen/fuel/loan/v1/loan_pb.js";
import {
  InitiatePaymentResponseSchema,
  PaymentMethod,
  type InitiatePaymentRequest,
  type InitiatePaymentResponse,
} from "../../gen/fuel/payment/v1/payment_pb.js";
import { principalOf, type Principal } from "../../platform/context.js";
import { withTx } from "../../platform/db.js";
import { invalidArgument, permissionDenied, rpcError } from "../../platform/errors.js";
import { ticketOf } from "../../platform/pg-guard.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { resolveAllocations, type LoanBalance, type RequestedAllocation } from "./amount-rule.js";
import { gatewayUnavailable, guardedTx, priorResponse } from "./common.js";
import { methodName, paymentToProto } from "./convert.js";
import { GatewayError, type PaymentGateway } from "./gateway-client.js";
import type { PaymentSettings } from "./settings.js";
import { insertPayment, loadFull, paymentByKey, recordGatewayPayment, type PaymentRow } from "./store.js";

export const MAX_ALLOCATIONS = 50;
const MAX_RETURN_URL = 2048;

/** Validates the request's shape; returns the requested allocations and method. */
export function validateInitiate(req: InitiatePaymentRequest, production: boolean): { requested: RequestedAllocation[]; method: ReturnType<typeof methodName> & string; returnUrl: string } {
  if (req.allocations.length === 0) throw invalidArgument("allocations", "must name at least one loan");
  if (req.allocations.length > MAX_ALLOCATIONS) throw invalidArgument("allocations", `must name at most ${MAX_ALLOCATIONS} loans`);
  const seen = new Set<string>();
  let currency: string | null = null;
  const requested = req.allocations.map((a, i): RequestedAllocation => {
    const loanId = v.uuid(`allocations[${i}].loan_id`, a.loanId);
    if (seen.has(loanId)) throw invalidArgument(`allocations[${i}].loan_id`, "lists a loan already listed; each loan at most once");
    seen.add(loanId);
    if (!a.amount) return { loanId };
    v.currency(`allocations[${i}].amount.currency`, a.amount.currency);
    if (a.amount.amountMinor <= 0n) throw invalidArgument(`allocations[${i}].amount.amount_minor`, "must be greater than 0");
    if (currency !== null && a.amount.currency !== currency) {
      throw invalidArgument(`allocations[${i}].amount.currency`, `must be ${currency} like the other allocations`, "MIXED_CURRENCIES");
    }
    currency = a.amount.currency;
    return { loanId, amount: { amount: a.amount.amountMinor, currency: a.amount.currency } };
  });
  v.enumValue("method", req.method, PaymentMethod);
  const method = methodName(req.method);
  if (!method) throw invalidArgument("method", "is not an accepted value");
  return { requested, method, returnUrl: validateReturnUrl(req.returnUrl, production) };
}

export function validateReturnUrl(value: string, production: boolean): string {
  if (value === "") return "";
  if (value.length > MAX_RETURN_URL) throw invalidArgument("return_url", `must be at most ${MAX_RETURN_URL} characters`);
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw invalidArgument("return_url", "must be an absolute HTTPS URL");
  }
  const local = u.hostname === "localhost" || u.hostname === "127.0.0.1";
  if (u.protocol !== "https:" && !(u.protocol === "http:" && local && !production)) throw invalidArgument("return_url", "must be an absolute HTTPS URL");
  if (u.username || u.password) throw invalidArgument("return_url", "must not carry credentials");
  return u.toString();
}

function payerOf(p: Principal): { driverId: string } | { agencyId: string } {
  if (p.role === Role.DRIVER && p.driverId) return { driverId: p.driverId };
  if (p.role === Role.AGENCY_ADMIN && p.agencyId) return { agencyId: p.agencyId };
  throw permissionDenied("PAYER_UNBOUND", "this account is bound to no driver or agency");
}

const loanNotFound = (loanId: string) => rpcError(Code.NotFound, "LOAN_NOT_FOUND", "loan not found", { loan_id: loanId });

/** Reads each loan from LoanService and keeps only the payer's; others are NOT_FOUND. */
async function payersLoans(deps: ServiceDeps, payer: ReturnType<typeof payerOf>, loanIds: string[]): Promise<Loan[]> {
  const client = deps.mesh.client(LoanService);
  return await Promise.all(
    loanIds.map(async (loanId) => {
      let loan: Loan | undefined;
      try {
        loan = (await client.getLoan({ loanId })).loan;
      } catch (err) {
        const e = ConnectError.from(err);
        if (e.code === Code.NotFound || e.code === Code.PermissionDenied || e.code === Code.InvalidArgument) throw loanNotFound(loanId);
        throw rpcError(Code.Unavailable, "LOAN_SERVICE_UNAVAILABLE", "loans cannot be read right now; retry with the same idempotency key");
      }
      if (!loan) throw loanNotFound(loanId);
      const mine = "driverId" in payer ? loan.driverId === payer.driverId : loan.agencyId !== "" && loan.agencyId === payer.agencyId;
      if (!mine) throw loanNotFound(loanId);
      return loan;
    }),
  );
}

export function initiatePayment(deps: ServiceDeps, gateway: PaymentGateway, settings: PaymentSettings) {
  return async (req: InitiatePaymentRequest, ctx: HandlerContext): Promise<InitiatePaymentResponse> => {
    const principal = principalOf(ctx);
    const { requested, method, returnUrl } = validateInitiate(req, deps.cfg.production);
    const payer = payerOf(principal);
    const prior = await priorResponse(deps, ctx, InitiatePaymentResponseSchema);
    if (prior) return prior;
    const ticket = ticketOf(ctx);

    // A retry (same key) reuses the payment made the first time, whatever the loans owe now.
    let row: PaymentRow | undefined = await paymentByKey(deps.pool, ticket.scope, ticket.key);
    if (!row) {
      const loans = await payersLoans(deps, payer, requested.map((r) => r.loanId));
      const balances: LoanBalance[] = loans.map((l) => ({
        loanId: l.loanId,
        currency: l.currency,
        totalOutstanding: l.totalOutstanding?.amountMinor ?? 0n,
        paidOff: l.status === LoanStatus.PAID_OFF,
      }));
      const resolved = resolveAllocations(requested, balances);
      const now = deps.now();
      const inserted = await withTx(deps.pool, (tx) =>
        insertPayment(tx, {
          paymentId: randomUUID(),
          payer,
          initiatedBy: principal.subjectId,
          currency: resolved.currency,
          amount: resolved.total,
          method,
          returnUrl,
          gateway: gateway.name,
          idempotencyScope: ticket.scope,
          idempotencyKey: ticket.key,
          requestHash: ticket.requestHash,
          now,
          expireTime: new Date(now.getTime() + settings.checkoutTtlSeconds * 1000),
          allocations: resolved.allocations.map((a, i) => ({
            loanId: a.loanId,
            amount: a.amount,
            driverId: loans[i]!.driverId,
            agencyId: loans[i]!.agencyId || null,
            bankId: loans[i]!.bankId,
          })),
        }),
      );
      row = inserted.row;
    }
    if (row.request_hash !== ticket.requestHash) {
      throw invalidArgument("idempotency-key", "was already used with a different request", "IDEMPOTENCY_KEY_REUSED");
    }
    const full = (await loadFull(deps.pool, row.payment_id))!;
    const p = full.payment;

    // Create it at the gateway (idempotent there by payment_id), unless a webhook already
    // resolved it.
    let gatewayId = p.gateway_payment_id;
    let checkoutUrl = p.checkout_url;
    if (!gatewayId || (p.status === "PENDING" && !checkoutUrl)) {
      try {
        const g = await gateway.createPayment(
          {
            reference: p.payment_id,
            amountMinor: p.amount_minor,
            currency: p.currency,
            description: `Fuel loan repayment (${full.allocations.length} loan${full.allocations.length === 1 ? "" : "s"})`,
            method: p.method.toLowerCase(),
            returnUrl: p.return_url,
            expiresAt: p.expire_time,
          },
          p.payment_id,
        );
        gatewayId = g.id;
        checkoutUrl = g.checkoutUrl;
      } catch (err) {
        if (err instanceof GatewayError) throw gatewayUnavailable(err.message);
        throw err;
      }
    }
    return await guardedTx(deps, ctx, InitiatePaymentResponseSchema, async (tx) => {
      await recordGatewayPayment(tx, p.payment_id, gatewayId!, checkoutUrl, deps.now());
      const after = (await loadFull(tx, p.payment_id))!;
      return create(InitiatePaymentResponseSchema, { payment: paymentToProto(after.payment, after.allocations) });
    });
  };
}
