// GetCreditPolicy and SetCreditPolicy: each bank's largest limit per risk category, per
// currency. Changing a policy does not change existing lines.
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { Role } from "../../gen/fuel/common/v1/common_pb.js";
import { RiskCategory } from "../../gen/fuel/credit/v1/credit_line_pb.js";
import {
  GetCreditPolicyResponseSchema,
  SetCreditPolicyResponseSchema,
  type GetCreditPolicyRequest,
  type SetCreditPolicyRequest,
} from "../../gen/fuel/credit/v1/credit_pb.js";
import { withTx } from "../../platform/db.js";
import { invalidArgument, notFound, permissionDenied } from "../../platform/errors.js";
import { principalOf } from "../../platform/context.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { versionMismatch } from "./common.js";
import { policyToProto } from "./convert.js";
import * as store from "./store.js";

export const policyNotFound = () => notFound("credit policy", "CREDIT_POLICY_NOT_FOUND");

export function getCreditPolicy(deps: ServiceDeps) {
  return async (req: GetCreditPolicyRequest, ctx: HandlerContext) => {
    const p = principalOf(ctx);
    const currency = v.currency("currency", req.currency);
    let bankId: string;
    if (p.role === Role.SYSTEM_ADMIN) bankId = v.uuid("bank_id", req.bankId);
    else {
      if (!p.bankId) throw permissionDenied("BANK_REQUIRED", "a bank identity is required");
      if (req.bankId !== "" && req.bankId.toLowerCase() !== p.bankId) throw policyNotFound();
      bankId = p.bankId;
    }
    const row = await store.getPolicy(deps.pool, bankId, currency);
    if (!row) throw policyNotFound();
    return create(GetCreditPolicyResponseSchema, { policy: policyToProto(row) });
  };
}

export function setCreditPolicy(deps: ServiceDeps) {
  return async (req: SetCreditPolicyRequest, ctx: HandlerContext) => {
    const p = principalOf(ctx);
    if (!p.bankId) throw permissionDenied("BANK_REQUIRED", "a bank identity is required");
    const currency = v.currency("currency", req.currency);
    if (req.expectedVersion < 0n) throw invalidArgument("expected_version", "must be ≥ 0");
    const maxima = { low: null as bigint | null, medium: null as bigint | null, high: null as bigint | null };
    const seen = new Set<RiskCategory>();
    req.categoryLimits.forEach((cl, i) => {
      const f = `category_limits[${i}]`;
      v.enumValue(`${f}.category`, cl.category, RiskCategory);
      if (seen.has(cl.category)) throw invalidArgument(`${f}.category`, "appears more than once");
      seen.add(cl.category);
      if (!cl.maxLimit) throw invalidArgument(`${f}.max_limit`, "is required");
      if (cl.maxLimit.currency !== currency) throw invalidArgument(`${f}.max_limit.currency`, `must be ${currency}`);
      if (cl.maxLimit.amountMinor < 0n) throw invalidArgument(`${f}.max_limit.amount_minor`, "must be ≥ 0");
      if (cl.category === RiskCategory.INELIGIBLE) {
        if (cl.maxLimit.amountMinor !== 0n) throw invalidArgument(`${f}.max_limit.amount_minor`, "must be 0 for RISK_CATEGORY_INELIGIBLE");
        return;
      }
      if (cl.category === RiskCategory.LOW) maxima.low = cl.maxLimit.amountMinor;
      if (cl.category === RiskCategory.MEDIUM) maxima.medium = cl.maxLimit.amountMinor;
      if (cl.category === RiskCategory.HIGH) maxima.high = cl.maxLimit.amountMinor;
    });
    const row: store.PolicyRow = {
      bank_id: p.bankId,
      currency,
      max_low: maxima.low,
      max_medium: maxima.medium,
      max_high: maxima.high,
      version: 0n,
      updated_by: p.subjectId,
      update_time: deps.now(),
    };
    const saved = await withTx(deps.pool, async (tx) => {
      if (req.expectedVersion === 0n) {
        const ins = await store.insertPolicy(tx, row);
        if (!ins) throw versionMismatch((await store.getPolicy(tx, p.bankId, currency))?.version);
        return ins;
      }
      const up = await store.updatePolicy(tx, row, req.expectedVersion);
      if (!up) {
        const cur = await store.getPolicy(tx, p.bankId, currency);
        if (!cur) throw policyNotFound();
        throw versionMismatch(cur.version);
      }
      return up;
    });
    return create(SetCreditPolicyResponseSchema, { policy: policyToProto(saved) });
  };
}
