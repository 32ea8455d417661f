// Loan products: CreateLoanProduct, UpdateLoanProduct, GetLoanProduct, ListLoanProducts.
// A bank (admin or system) manages its own products; the terms are copied onto each loan
// at creation, so changing a product never changes existing loans.
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { Role } from "../../gen/fuel/common/v1/common_pb.js";
import {
  CreateLoanProductResponseSchema,
  GetLoanProductResponseSchema,
  ListLoanProductsResponseSchema,
  LoanProductStatus,
  UpdateLoanProductResponseSchema,
  type CreateLoanProductRequest,
  type GetLoanProductRequest,
  type ListLoanProductsRequest,
  type UpdateLoanProductRequest,
} from "../../gen/fuel/loan/v1/loan_pb.js";
import { principalOf } from "../../platform/context.js";
import { withTx } from "../../platform/db.js";
import { invalidArgument, permissionDenied } from "../../platform/errors.js";
import type { LoanContext } from "./context.js";
import * as v from "../../platform/validate.js";
import { productNotFound, scopeOf } from "./access.js";
import { pageAfter, versionMismatch } from "./common.js";
import { productToProto } from "./convert.js";
import * as store from "./store.js";
import type { ProductRow } from "./store.js";

/** The bank of a BANK_ADMIN / BANK_SYSTEM caller. */
function callerBank(ctx: HandlerContext): string {
  const p = principalOf(ctx);
  if ((p.role !== Role.BANK_ADMIN && p.role !== Role.BANK_SYSTEM) || !p.bankId) {
    throw permissionDenied("BANK_REQUIRED", "only a bank manages loan products");
  }
  return p.bankId;
}

/** Terms validation shared by create and update (each only for the fields it sets). */
const check = {
  name: (x: string) => v.text("name", x, 1, 100),
  feeBps: (x: number) => v.intRange("fee_bps", x, 0, 10_000),
  dailyInterestBps: (x: number) => v.intRange("daily_interest_bps", x, 0, 1_000),
  termDays: (x: number) => v.intRange("term_days", x, 1, 365),
  defaultAfterDays: (x: number) => v.intRange("default_after_days_past_due", x, 1, 3_650),
  reminderDays: (x: number) => v.intRange("reminder_days_before_due", x, 0, 30),
};

function feeFixedIn(field: string, m: { amountMinor: bigint; currency: string } | undefined, currency: string): bigint {
  if (!m) return 0n;
  if (m.currency !== "" && m.currency !== currency) throw invalidArgument(`${field}.currency`, `must be the product's currency ${currency}`);
  if (m.amountMinor < 0n) throw invalidArgument(`${field}.amount_minor`, "must not be negative");
  return m.amountMinor;
}

export function createLoanProduct(deps: LoanContext) {
  return async (req: CreateLoanProductRequest, ctx: HandlerContext) => {
    const bankId = callerBank(ctx);
    const name = check.name(req.name);
    const currency = v.currency("currency", req.currency);
    const feeFixed = feeFixedIn("fee_fixed", req.feeFixed, currency);
    check.feeBps(req.feeBps);
    check.dailyInterestBps(req.dailyInterestBps);
    check.termDays(req.termDays);
    const defaultAfter = req.defaultAfterDaysPastDue === 0 ? deps.settings.defaultAfterDays : req.defaultAfterDaysPastDue;
    check.defaultAfterDays(defaultAfter);
    check.reminderDays(req.reminderDaysBeforeDue);
    const now = deps.now();
    const row = await withTx(deps.pool, async (tx) => {
      const id = randomUUID();
      if (req.isDefault) {
        // Serialize default changes per bank and currency (the unique index is the guard).
        await tx.query(`SELECT pg_advisory_xact_lock(hashtext('loan.default:' || $1 || ':' || $2))`, [bankId, currency]);
        await store.clearDefault(tx, bankId, currency, id, now);
      }
      return await store.insertProduct(tx, {
        product_id: id, bank_id: bankId, name, currency, fee_fixed: feeFixed, fee_bps: req.feeBps,
        daily_interest_bps: req.dailyInterestBps, term_days: req.termDays, default_after_days: defaultAfter,
        reminder_days_before_due: req.reminderDaysBeforeDue, is_default: req.isDefault, status: "ACTIVE", create_time: now,
      });
    });
    deps.products.saw(row);
    return create(CreateLoanProductResponseSchema, { loanProduct: productToProto(row) });
  };
}

const MASK_PATHS = new Set([
  "name", "fee_fixed", "fee_bps", "daily_interest_bps", "term_days", "default_after_days_past_due",
  "reminder_days_before_due", "is_default", "status",
]);

export function updateLoanProduct(deps: LoanContext) {
  return async (req: UpdateLoanProductRequest, ctx: HandlerContext) => {
    const bankId = callerBank(ctx);
    const productId = v.uuid("loan_product_id", req.loanProductId);
    const paths = req.updateMask?.paths ?? [];
    if (paths.length === 0) throw invalidArgument("update_mask", "must list the fields to change");
    for (const p of paths) if (!MASK_PATHS.has(p)) throw invalidArgument("update_mask", `unknown or read-only path "${p}"`);
    const n = req.loanProduct;
    if (!n) throw invalidArgument("loan_product", "is required");
    const has = (p: string) => paths.includes(p);
    const now = deps.now();
    const row = await withTx(deps.pool, async (tx) => {
      const cur = await store.getProduct(tx, productId, true);
      if (!cur || cur.bank_id !== bankId) throw productNotFound();
      if (req.expectedVersion !== cur.version) throw versionMismatch(cur.version);
      const set: Partial<ProductRow> = {};
      if (has("name")) set.name = check.name(n.name);
      if (has("fee_fixed")) set.fee_fixed = feeFixedIn("loan_product.fee_fixed", n.feeFixed, cur.currency);
      if (has("fee_bps")) (check.feeBps(n.feeBps), (set.fee_bps = n.feeBps));
      if (has("daily_interest_bps")) (check.dailyInterestBps(n.dailyInterestBps), (set.daily_interest_bps = n.dailyInterestBps));
      if (has("term_days")) (check.termDays(n.termDays), (set.term_days = n.termDays));
      if (has("default_after_days_past_due")) (check.defaultAfterDays(n.defaultAfterDaysPastDue), (set.default_after_days = n.defaultAfterDaysPastDue));
      if (has("reminder_days_before_due")) (check.reminderDays(n.reminderDaysBeforeDue), (set.reminder_days_before_due = n.reminderDaysBeforeDue));
      if (has("status")) {
        v.enumValue("loan_product.status", n.status, LoanProductStatus);
        set.status = n.status === LoanProductStatus.ACTIVE ? "ACTIVE" : "RETIRED";
      }
      if (has("is_default")) {
        set.is_default = n.isDefault;
        if (n.isDefault) {
          await tx.query(`SELECT pg_advisory_xact_lock(hashtext('loan.default:' || $1 || ':' || $2))`, [bankId, cur.currency]);
          await store.clearDefault(tx, bankId, cur.currency, productId, now);
        }
      }
      return await store.updateProduct(tx, productId, set, now);
    });
    deps.products.saw(row);
    return create(UpdateLoanProductResponseSchema, { loanProduct: productToProto(row) });
  };
}

export function getLoanProduct(deps: LoanContext) {
  return async (req: GetLoanProductRequest, ctx: HandlerContext) => {
    const productId = v.uuid("loan_product_id", req.loanProductId);
    const scope = scopeOf(ctx);
    const row = await store.getProduct(deps.pool, productId);
    if (!row) throw productNotFound();
    if (scope.kind === "none" || (scope.kind === "row" && (scope.column !== "bank_id" || scope.value !== row.bank_id))) throw productNotFound();
    return create(GetLoanProductResponseSchema, { loanProduct: productToProto(row) });
  };
}

export function listLoanProducts(deps: LoanContext) {
  return async (req: ListLoanProductsRequest, ctx: HandlerContext) => {
    const scope = scopeOf(ctx);
    const filterBank = v.optionalUuid("bank_id", req.bankId);
    const currency = req.currency === "" ? null : v.currency("currency", req.currency);
    if (req.status !== LoanProductStatus.UNSPECIFIED) v.enumValue("status", req.status, LoanProductStatus);
    const size = v.pageSize(req.pageSize);
    const after = pageAfter(req.pageToken);
    let bankId = filterBank;
    if (scope.kind === "row") {
      // Banks see only their own products, whatever they ask for.
      if (scope.column !== "bank_id" || (filterBank && filterBank !== scope.value)) {
        return create(ListLoanProductsResponseSchema, {});
      }
      bankId = scope.value;
    } else if (scope.kind === "none") {
      return create(ListLoanProductsResponseSchema, {});
    }
    const status = req.status === LoanProductStatus.UNSPECIFIED ? null : req.status === LoanProductStatus.ACTIVE ? "ACTIVE" : "RETIRED";
    const rows = await store.listProducts(deps.pool, { bankId, currency, status, after, limit: size + 1 });
    const page = rows.slice(0, size);
    const last = page[page.length - 1];
    return create(ListLoanProductsResponseSchema, {
      loanProducts: page.map(productToProto),
      nextPageToken: rows.length > size && last ? v.encodePageToken({ t: last.create_time.toISOString(), id: last.product_id }) : "",
    });
  };
}
