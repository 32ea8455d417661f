// SyncPendingPayments (SYSTEM_ADMIN) and the scheduled job: ask the gateway about
// payments stuck in PENDING and apply what it reports through apply-event.ts, exactly
// as the matching webhook would (same dedupe, same rules). A sync-made event has the
// deterministic id `sync:<gateway payment id>:<status>`, so repeated syncs apply it once
// and a late webhook for the same outcome changes nothing (UNCHANGED).
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import {
  SyncPendingPaymentsResponseSchema,
  SyncResultSchema,
  type SyncPendingPaymentsRequest,
  type SyncPendingPaymentsResponse,
  type SyncResult,
} from "../../gen/fuel/payment/v1/payment_pb.js";
import { withTx } from "../../platform/db.js";
import { log } from "../../platform/logger.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { applyEvent, type GatewayEvent } from "./apply-event.js";
import { gatewayUnavailable, guardedTx, priorResponse } from "./common.js";
import { OUTCOME, STATUS, type OutcomeName } from "./convert.js";
import { GatewayError, type GatewayPayment, type PaymentGateway } from "./gateway-client.js";
import type { OutboxRelay } from "./outbox.js";
import type { PaymentSettings } from "./settings.js";
import { pendingPayments, recordGatewayPayment, touchSynced, type PaymentRow } from "./store.js";
import type { EventKind } from "./status-rule.js";

const KIND: Record<Exclude<GatewayPayment["status"], "pending">, EventKind> = { succeeded: "SUCCEEDED", failed: "FAILED", expired: "EXPIRED" };

/** The event a gateway's answer amounts to, or null when it is still pending. */
export function eventFromGateway(p: PaymentRow, g: GatewayPayment): GatewayEvent | null {
  if (g.status === "pending") return null;
  const kind = KIND[g.status];
  return {
    eventId: `sync:${g.id}:${g.status}`,
    kind,
    paymentId: p.payment_id,
    gatewayPaymentId: g.id,
    amount: kind === "SUCCEEDED" ? (g.received ?? { amount: g.amountMinor, currency: g.currency }) : undefined,
    failureCode: g.failureCode.slice(0, 100),
    failureMessage: g.failureMessage.slice(0, 500),
    occurTime: g.updatedAt,
    record: { source: "sync", gateway_payment: { ...g, amountMinor: g.amountMinor.toString(), received: g.received && { amount: g.received.amount.toString(), currency: g.received.currency } } },
  };
}

export interface SyncRun {
  results: SyncResult[];
  moreRemaining: boolean;
}

export async function syncPending(deps: ServiceDeps, gateway: PaymentGateway, relay: OutboxRelay, minAgeSeconds: number, max: number): Promise<SyncRun> {
  const now = deps.now();
  const rows = await pendingPayments(deps.pool, new Date(now.getTime() - minAgeSeconds * 1000), max + 1);
  const results: SyncResult[] = [];
  let queued = false;
  try {
    for (const p of rows.slice(0, max)) {
      let g: GatewayPayment | null;
      try {
        g = p.gateway_payment_id ? await gateway.getPayment(p.gateway_payment_id) : await gateway.findByReference(p.payment_id);
      } catch (err) {
        if (err instanceof GatewayError && err.transient) throw gatewayUnavailable(err.message);
        log.warn({ err, payment_id: p.payment_id }, "payment sync: gateway answer unusable; skipping");
        continue;
      }
      let outcome: OutcomeName = "UNCHANGED";
      let status = p.status;
      const ev = g ? eventFromGateway(p, g) : null;
      if (!g && deps.now().getTime() >= p.expire_time.getTime()) {
        // The gateway never got this payment (creation failed and was not retried) and
        // its checkout window is over: nothing can be collected any more.
        const r = await withTx(deps.pool, (tx) =>
          applyEvent(tx, gateway.name, "SYNC", { eventId: `sync:${p.payment_id}:expired`, kind: "EXPIRED", paymentId: p.payment_id, gatewayPaymentId: "", failureCode: "", failureMessage: "", occurTime: null, record: { source: "sync", gateway_payment: null } }, deps.now()),
        );
        outcome = r.outcome;
        status = r.payment?.payment.status ?? status;
      } else if (ev) {
        const r = await withTx(deps.pool, (tx) => applyEvent(tx, gateway.name, "SYNC", ev, deps.now()));
        outcome = r.outcome;
        status = r.payment?.payment.status ?? status;
        if (r.outcome === "APPLIED" && status === "SUCCEEDED") queued = true;
      } else if (g && !p.gateway_payment_id) {
        await withTx(deps.pool, (tx) => recordGatewayPayment(tx, p.payment_id, g.id, g.checkoutUrl, deps.now()));
      }
      await touchSynced(deps.pool, p.payment_id, deps.now());
      results.push(create(SyncResultSchema, { paymentId: p.payment_id, previousStatus: STATUS[p.status], status: STATUS[status], outcome: OUTCOME[outcome] }));
    }
  } finally {
    if (queued) relay.wake();
  }
  return { results, moreRemaining: rows.length > max };
}

export function syncPendingPayments(deps: ServiceDeps, gateway: PaymentGateway, relay: OutboxRelay) {
  return async (req: SyncPendingPaymentsRequest, ctx: HandlerContext): Promise<SyncPendingPaymentsResponse> => {
    v.intRange("min_age_seconds", req.minAgeSeconds, 0, 86_400);
    v.intRange("max_payments", req.maxPayments, 0, 1000);
    const prior = await priorResponse(deps, ctx, SyncPendingPaymentsResponseSchema);
    if (prior) return prior;
    const run = await syncPending(deps, gateway, relay, req.minAgeSeconds || 600, req.maxPayments || 100);
    return await guardedTx(deps, ctx, SyncPendingPaymentsResponseSchema, async () => create(SyncPendingPaymentsResponseSchema, run));
  };
}

/** The scheduled job: the same code on a timer; one run at a time per process. */
export function startSyncJob(deps: ServiceDeps, gateway: PaymentGateway, relay: OutboxRelay, settings: PaymentSettings): () => Promise<void> {
  if (settings.syncIntervalMs <= 0) return async () => undefined;
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = (async () => {
      try {
        let more = true;
        for (let i = 0; more && i < 10; i++) {
          const run = await syncPending(deps, gateway, relay, settings.syncMinAgeSeconds, settings.syncBatch);
          more = run.moreRemaining;
        }
      } catch (err) {
        log.warn({ err }, "payment sync job: run failed; next run retries");
      } finally {
        running = undefined;
      }
    })();
  }, settings.syncIntervalMs);
  timer.unref?.();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
