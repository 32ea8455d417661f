// What PaymentService's handlers and background work share, built once per running
// instance: its settings (settings.ts, from the environment the process was configured
// with), the payment gateway adapter they name, and the outbox relay that turns a
// succeeded payment into LoanService.ApplyRepayment calls.
import type { ServiceDeps } from "../../platform/service.js";
import { HttpPaymentGateway, UnconfiguredGateway, type PaymentGateway } from "./gateway-client.js";
import { paymentRelay, type OutboxRelay } from "./outbox.js";
import { paymentSettingsFromEnv, type PaymentSettings } from "./settings.js";

export interface PaymentContext extends ServiceDeps {
  settings: PaymentSettings;
  gateway: PaymentGateway;
  relay: OutboxRelay;
}

export function paymentContext(deps: ServiceDeps): PaymentContext {
  const settings = paymentSettingsFromEnv(deps.cfg.env);
  const { gatewayUrl: url, gatewayName: name } = settings;
  return {
    ...deps,
    settings,
    gateway: url ? new HttpPaymentGateway(url, settings.gatewayTimeoutMs, name, settings.gatewayApiKey) : new UnconfiguredGateway(name),
    relay: paymentRelay(deps.pool, deps),
  };
}
