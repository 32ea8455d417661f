// What the RPC handlers share: the service deps, and the worker's wake-up and state.
import type { StatusSource } from "../../platform/outbox-status.js";
import type { ServiceDeps } from "../../platform/service.js";

export interface HandlerDeps {
  deps: ServiceDeps;
  /** Tells the outbox worker in this process that something was queued. */
  wake: () => void;
  /** The delivery outbox, for GetOutboxStatus. */
  outbox: StatusSource;
}
