// Applies one gateway event to a payment, exactly once and in any order. Shared by the
// webhook (ReconcileWebhook) and the pending-payment sync, so both behave identically:
//   1. the (gateway, event_id) row is claimed: a second delivery is a DUPLICATE;
//   2. the payment is locked; none with that reference → UNKNOWN_PAYMENT (recorded);
//   3. status-rule.ts decides: forward moves are APPLIED, backward ones IGNORED, an
//      amount or currency that does not match is FLAGGED (NEEDS_REVIEW, nothing applied);
//   4. a success queues one ApplyRepayment per allocation in the outbox, in the same
//      transaction as the status change.
import type { Tx } from "../../platform/db.js";
import * as v from "../../platform/validate.js";
import { OUTCOME, type OutcomeName } from "./convert.js";
import { decideEvent, type EventKind } from "./status-rule.js";
import type { Amount } from "./amount-rule.js";
import {
  allocationsOf,
  claimEvent,
  enqueueRepayments,
  loadFull,
  markAllocationsNotApplied,
  paymentById,
  setEventOutcome,
  updateStatus,
  type PaymentWithAllocations,
} from "./store.js";

export interface GatewayEvent {
  eventId: string;
  kind: EventKind;
  /** Our payment id (the reference we gave the gateway). */
  paymentId: string;
  gatewayPaymentId: string;
  amount?: Amount;
  failureCode: string;
  failureMessage: string;
  occurTime: Date | null;
  /** The event as received, kept for operators. */
  record: unknown;
}

export interface Applied {
  outcome: OutcomeName;
  payment: PaymentWithAllocations | null;
}

export { OUTCOME };

const isUuid = (s: string) => {
  try {
    v.uuid("payment_id", s);
    return true;
  } catch {
    return false;
  }
};

export async function applyEvent(tx: Tx, gateway: string, source: "WEBHOOK" | "SYNC", e: GatewayEvent, now: Date): Promise<Applied> {
  const paymentId = isUuid(e.paymentId) ? e.paymentId.toLowerCase() : null;
  const fresh = await claimEvent(tx, { gateway, eventId: e.eventId, source, paymentId, type: e.kind, event: e.record, now });
  if (!fresh) return { outcome: "DUPLICATE", payment: paymentId ? ((await loadFull(tx, paymentId)) ?? null) : null };

  const finish = async (outcome: OutcomeName, id: string | null): Promise<Applied> => {
    await setEventOutcome(tx, gateway, e.eventId, outcome);
    return { outcome, payment: id ? ((await loadFull(tx, id)) ?? null) : null };
  };

  const p = paymentId ? await paymentById(tx, paymentId, true) : undefined;
  // The reference must be ours, made at this gateway, and (once we know it) the same
  // gateway payment; anything else is recorded for operators and changes nothing.
  if (!p || p.gateway !== gateway || (p.gateway_payment_id && e.gatewayPaymentId && p.gateway_payment_id !== e.gatewayPaymentId)) {
    return await finish("UNKNOWN_PAYMENT", null);
  }

  const d = decideEvent(p.status, e.kind, { amount: p.amount_minor, currency: p.currency }, e.amount);
  const base = { gatewayPaymentId: e.gatewayPaymentId || undefined, now };
  if (d.outcome === "FLAGGED") {
    // Money arrived, but not what we asked for: keep it visible, apply none of it.
    await updateStatus(tx, p.payment_id, {
      ...base,
      status: "NEEDS_REVIEW",
      received: e.amount,
      reviewReason: d.reviewReason,
      unapplied: e.amount?.amount ?? 0n,
      failureCode: "",
      failureMessage: "",
    });
    await markAllocationsNotApplied(tx, p.payment_id);
  } else if (d.outcome === "APPLIED") {
    if (d.status === "SUCCEEDED") {
      await updateStatus(tx, p.payment_id, { ...base, status: "SUCCEEDED", received: e.amount, succeedTime: e.occurTime ?? now, failureCode: "", failureMessage: "" });
      const allocations = (await allocationsOf(tx, [p.payment_id])).get(p.payment_id) ?? [];
      await enqueueRepayments(tx, p.payment_id, allocations.map((a) => a.loan_id));
    } else if (d.status === "FAILED") {
      await updateStatus(tx, p.payment_id, { ...base, status: "FAILED", failureCode: e.failureCode || "payment_failed", failureMessage: e.failureMessage });
    } else {
      await updateStatus(tx, p.payment_id, { ...base, status: d.status });
    }
  } else if (!p.gateway_payment_id && e.gatewayPaymentId) {
    await updateStatus(tx, p.payment_id, { ...base, status: p.status });
  }
  return await finish(d.outcome, p.payment_id);
}
