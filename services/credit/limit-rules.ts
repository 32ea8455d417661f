// Limits: a bank's policy maximum per risk category, a root line's limit from it (or an
// override within it), and the explicit policy for lowering a limit below what the line
// already has out. Pure: no I/O; failures are ConnectErrors with stable reasons.
import { LimitDecreasePolicy, LimitSource, RiskCategory } from "../../gen/fuel/credit/v1/credit_line_pb.js";
import { failedPrecondition } from "../../platform/errors.js";

/** A policy's maxima; a category absent here (null) has a maximum of zero. */
export interface PolicyMaxima {
  low: bigint | null;
  medium: bigint | null;
  high: bigint | null;
}

export function policyMaximum(p: PolicyMaxima, category: RiskCategory): bigint {
  switch (category) {
    case RiskCategory.LOW:
      return p.low ?? 0n;
    case RiskCategory.MEDIUM:
      return p.medium ?? 0n;
    case RiskCategory.HIGH:
      return p.high ?? 0n;
    default:
      return 0n; // INELIGIBLE and unassessed subjects are never lent to.
  }
}

/**
 * A root line's limit: the category maximum, or an override at or below it.
 * SUBJECT_INELIGIBLE when the maximum is zero; LIMIT_ABOVE_POLICY for an override above it.
 */
export function rootLimit(p: PolicyMaxima, category: RiskCategory, override: bigint | null): { limit: bigint; source: LimitSource } {
  const max = policyMaximum(p, category);
  if (max <= 0n) {
    throw failedPrecondition("SUBJECT_INELIGIBLE", `risk category ${RiskCategory[category]} is not eligible for credit under this policy`, {
      risk_category: RiskCategory[category],
    });
  }
  if (override === null) return { limit: max, source: LimitSource.POLICY };
  if (override > max) {
    throw failedPrecondition("LIMIT_ABOVE_POLICY", `limit ${override} is above the policy maximum ${max} for ${RiskCategory[category]}`, {
      policy_maximum: max.toString(),
    });
  }
  return { limit: override, source: override === max ? LimitSource.POLICY : LimitSource.OVERRIDE };
}

/**
 * The limit actually applied when `requested` is asked for a line with `exposure`
 * (held + used) out. Never silent: REJECT (the default) refuses, CLAMP stops at the
 * exposure, ALLOW_OVER_LIMIT applies it and leaves the line over limit.
 */
export function applyDecreasePolicy(requested: bigint, exposure: bigint, policy: LimitDecreasePolicy): bigint {
  if (requested >= exposure) return requested;
  switch (policy) {
    case LimitDecreasePolicy.CLAMP_TO_EXPOSURE:
      return exposure;
    case LimitDecreasePolicy.ALLOW_OVER_LIMIT:
      return requested;
    default:
      throw failedPrecondition("LIMIT_BELOW_EXPOSURE", `limit ${requested} is below the line's exposure ${exposure} (held + used)`, {
        exposure: exposure.toString(),
      });
  }
}
