// CreateLoanFromSettlement (internal; TransactionService on settle). One loan per settled
// transaction: the unique transaction_id is the final guard, so a retry — same or another
// idempotency key — returns the loan created first, and a different request for the same
// transaction is ALREADY_EXISTS. Terms are copied from the named product or the bank's
// default product for the currency.
//
// The usual first call is one statement (create-loan-sql.ts): the loan, its answer and the
// borrower's notice are decided here on the product as this instance last saw it, then
// written with the key row in one round trip that applies only while the product is
// unchanged. Everything else — a retry, another request for the transaction, a product
// unknown, retired or changed — is answered on the locked path under the Postgres guard.
import { randomUUID } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import {
  CreateLoanFromSettlementResponseSchema,
  type CreateLoanFromSettlementRequest,
  type CreateLoanFromSettlementResponse,
} from "../../gen/fuel/loan/v1/loan_pb.js";
import { sqlState, UNIQUE_VIOLATION, type Pool, type Tx } from "../../platform/db.js";
import { alreadyExists, failedPrecondition } from "../../platform/errors.js";
import { traceCarrier } from "../../platform/outbox.js";
import { priorResponse, ticketOf } from "../../platform/pg-guard.js";
import { guardedTx, IDEMPOTENCY_TABLE } from "./common.js";
import type { LoanContext } from "./context.js";
import { loanToProto } from "./convert.js";
import { insertLoanAtOnce, KEY_CONSTRAINT } from "./create-loan-sql.js";
import { loanOf, productLends, settlementHash, settlementOf, type Settlement } from "./create-loan-rule.js";
import { noticeFor } from "./notices.js";
import { enqueueNotice } from "./outbox.js";
import * as store from "./store.js";

const Response = CreateLoanFromSettlementResponseSchema;

export function createLoanFromSettlement(deps: LoanContext) {
  return async (req: CreateLoanFromSettlementRequest, ctx: HandlerContext) => {
    const now = deps.now();
    const s = settlementOf(req, now);
    const hash = settlementHash(s);
    const out = (await createAtOnce(deps, ctx, s, hash, now)) ?? (await createLocked(deps, ctx, s, hash, now));
    deps.relay.wake();
    return out;
  };
}

/** The product the settlement asks for: as this instance last saw it, else read (and kept). */
async function productFor(deps: LoanContext, s: Settlement): Promise<store.ProductRow | undefined> {
  const seen = deps.products.of(s);
  if (seen) return seen;
  const read = s.productId ? await store.getProduct(deps.pool, s.productId) : await store.defaultProduct(deps.pool, s.bankId, s.currency);
  if (read) deps.products.saw(read);
  return read;
}

/**
 * The first call in one round trip and one commit (a product not seen before costs one
 * read more). The answer is built before the write and stored with it, so a replay
 * returns these bytes. null when the locked path must answer: no product lends it, the
 * product changed since it was read, or this transaction already has a loan. A key taken
 * by an earlier run is answered from its stored response.
 */
async function createAtOnce(deps: LoanContext, ctx: HandlerContext, s: Settlement, hash: string, now: Date): Promise<CreateLoanFromSettlementResponse | null> {
  const product = await productFor(deps, s);
  if (!productLends(product, s)) return null;
  const loan = loanOf(s, product, { loanId: randomUUID(), settlementHash: hash }, now);
  const response = create(Response, { loan: loanToProto(loan, [], now) });
  const t = ticketOf(ctx);
  try {
    const written = await insertLoanAtOnce(deps.pool, {
      loan,
      product: { productId: product.product_id, version: product.version, asDefault: !s.productId },
      notice: { outboxId: randomUUID(), payload: noticeFor("OPENED", loan, loan.principal + loan.fee), traceCarrier: traceCarrier() },
      key: { scope: t.scope, key: t.key, requestHash: t.requestHash, response: toBinary(Response, response) },
    });
    if (written) return response;
    deps.products.forget(s);
    return null;
  } catch (err) {
    if (sqlState(err) !== UNIQUE_VIOLATION) throw err;
    // A run of this key finished first: its answer (or IDEMPOTENCY_KEY_REUSED).
    if ((err as { constraint?: string }).constraint === KEY_CONSTRAINT) return await priorResponse(deps.pool, IDEMPOTENCY_TABLE, ctx, Response);
    // The transaction has its loan already (a retry under another key): the locked path tells which.
    return null;
  }
}

/** Under the Postgres guard, in one transaction: decides again on the product as it is now. */
async function createLocked(deps: LoanContext, ctx: HandlerContext, s: Settlement, hash: string, now: Date): Promise<CreateLoanFromSettlementResponse> {
  // `db` is the handle the row was read with: inside a transaction, never another
  // connection (the embedded database serves connections one transaction at a time).
  const existing = async (db: Pool | Tx, row: store.LoanRow | undefined) => {
    if (!row) return null;
    if (row.settlement_hash !== hash) {
      throw alreadyExists("LOAN_EXISTS_FOR_TRANSACTION", `transaction ${s.transactionId} already has a loan with other terms`);
    }
    const reps = (await store.repaymentsOf(db, [row.loan_id])).get(row.loan_id)!;
    return create(Response, { loan: loanToProto(row, reps, deps.now()) });
  };

  // No read first: the insert's ON CONFLICT (transaction_id) finds the loan a retry under
  // another key asks for again.
  return await guardedTx(deps, ctx, Response, async (tx) => {
    const product = s.productId ? await store.getProduct(tx, s.productId) : await store.defaultProduct(tx, s.bankId, s.currency);
    if (product) deps.products.saw(product);
    else deps.products.forget(s);
    if (!productLends(product, s)) {
      // The loan made before the product went away is still the answer.
      const made = await existing(tx, await store.loanByTransaction(tx, s.transactionId));
      if (made) return made;
      throw failedPrecondition(
        "LOAN_PRODUCT_NOT_FOUND",
        s.productId ? "the loan product is not an active product of this bank in this currency" : `the bank has no active default loan product in ${s.currency}`,
      );
    }
    const row = await store.insertLoan(tx, loanOf(s, product, { loanId: randomUUID(), settlementHash: hash }, now));
    if (!row) {
      // A concurrent request for the same transaction committed first (we waited on it).
      const raced = await existing(tx, await store.loanByTransaction(tx, s.transactionId));
      if (raced) return raced;
      throw new Error("loan insert conflicted but no loan found");
    }
    // The borrower's notice of the terms commits with the loan, or neither does.
    await enqueueNotice(tx, row.loan_id, noticeFor("OPENED", row, row.principal + row.fee));
    return create(Response, { loan: loanToProto(row, [], now) });
  });
}
