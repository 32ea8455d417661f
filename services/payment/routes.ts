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
import type { ServiceDeps } from "../../platform/service.js";
import { settingsFromEnv, type PaymentSettings } from "./common.js";
import { GatewayError, HttpPaymentGateway, type PaymentGateway } from "./gateway-client.js";
import { initiatePayment } from "./initiate.js";
import { paymentRelay, type OutboxRelay } from "./outbox.js";
import { getPayment, listPayments } from "./read.js";
import { reconcileWebhook } from "./reconcile.js";
import { syncPendingPayments } from "./sync.js";

export interface PaymentRuntime {
  settings: PaymentSettings;
  gateway: PaymentGateway;
  relay: OutboxRelay;
}

/** The adapter used when no gateway address is configured: every call is transient. */
class UnconfiguredGateway implements PaymentGateway {
  constructor(readonly name: string) {}
  private fail(): never {
    throw new GatewayError("no payment gateway configured (PAYMENT_GATEWAY_URL)", true);
  }
  createPayment(): never {
    return this.fail();
  }
  getPayment(): never {
    return this.fail();
  }
  findByReference(): never {
    return this.fail();
  }
}

// One runtime per running service instance (routes and start receive the same deps).
const runtimes = new WeakMap<object, PaymentRuntime>();

export function runtimeFor(deps: ServiceDeps): PaymentRuntime {
  let r = runtimes.get(deps);
  if (!r) {
    const settings = settingsFromEnv();
    const name = deps.cfg.paymentGatewayName;
    const url = deps.cfg.paymentGatewayUrl;
    r = {
      settings,
      gateway: url ? new HttpPaymentGateway(url, settings.gatewayTimeoutMs, name, settings.gatewayApiKey) : new UnconfiguredGateway(name),
      relay: paymentRelay(deps.pool, deps),
    };
    runtimes.set(deps, r);
  }
  return r;
}

export function routes(router: ConnectRouter, deps: ServiceDeps): void {
  const { settings, gateway, relay } = runtimeFor(deps);
  router.service(PaymentService, {
    initiatePayment: initiatePayment(deps, gateway, settings),
    getPayment: getPayment(deps),
    listPayments: listPayments(deps),
    reconcileWebhook: reconcileWebhook(deps, relay, gateway.name),
    syncPendingPayments: syncPendingPayments(deps, gateway, relay),
  });
}
