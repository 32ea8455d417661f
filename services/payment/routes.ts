// Registers PaymentService: one file per RPC or small group, wired here.
//   initiate.ts   InitiatePayment            (amount-rule.ts: allocations against loans)
//   read.ts       GetPayment, ListPayments   (access.ts: who sees which payment)
//   reconcile.ts  ReconcileWebhook           (signature.ts, webhook-event.ts)
//   sync.ts       SyncPendingPayments + the scheduled job
//   apply-event.ts  applies one gateway event once (status-rule.ts), for webhook and sync
//   outbox.ts     the relay turning a success into LoanService.ApplyRepayment calls
//   gateway-client.ts  the payment gateway adapter (dev/payment-gateway/ simulates one)
// SQL lives in store.ts.
import type { ConnectRouter } from "@connectrpc/connect";
import { PaymentService } from "../../gen/fuel/payment/v1/payment_pb.js";
import type { PaymentContext } from "./context.js";
import { initiatePayment } from "./initiate.js";
import { getPayment, listPayments } from "./read.js";
import { reconcileWebhook } from "./reconcile.js";
import { syncPendingPayments } from "./sync.js";
import { outboxStatus } from "../../platform/outbox-status.js";

export function routes(router: ConnectRouter, deps: PaymentContext): void {
  const { settings, gateway, relay } = deps;
  router.service(PaymentService, {
    initiatePayment: initiatePayment(deps, gateway, settings),
    getPayment: getPayment(deps),
    listPayments: listPayments(deps),
    reconcileWebhook: reconcileWebhook(deps, relay, settings),
    syncPendingPayments: syncPendingPayments(deps, gateway, relay),
    getOutboxStatus: async () => ({ status: await outboxStatus(relay) }),
  });
}
