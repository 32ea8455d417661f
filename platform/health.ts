// grpc.health.v1.Health as a Connect service (Kubernetes gRPC probes, load balancers).
// "" names the whole server; each hosted service has its own entry. SIGTERM flips all of
// them to NOT_SERVING before the server stops accepting, so balancers drain first.
import { EventEmitter } from "node:events";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponse_ServingStatus as Status,
  HealthCheckResponseSchema,
} from "../gen/grpc/health/v1/health_pb.js";

/** A Watch stream ends after this long; clients reconnect (bounds every stream). */
const WATCH_MAX_MS = 30 * 60_000;

export class HealthState {
  private readonly statuses = new Map<string, Status>();
  private readonly events = new EventEmitter();

  constructor(serviceNames: string[]) {
    this.events.setMaxListeners(1000);
    this.statuses.set("", Status.SERVING);
    for (const s of serviceNames) this.statuses.set(s, Status.SERVING);
  }

  status(name: string): Status | undefined {
    return this.statuses.get(name);
  }

  setAll(status: Status): void {
    for (const name of this.statuses.keys()) {
      this.statuses.set(name, status);
      this.events.emit("change", name, status);
    }
  }

  onChange(fn: (name: string, s: Status) => void): () => void {
    this.events.on("change", fn);
    return () => this.events.off("change", fn);
  }
}

export const healthRoutes = (state: HealthState) => (router: ConnectRouter) =>
  router.service(Health, {
    check(req) {
      const status = state.status(req.service);
      if (status === undefined) throw new ConnectError(`unknown service ${req.service}`, Code.NotFound);
      return create(HealthCheckResponseSchema, { status });
    },
    async *watch(req, ctx: HandlerContext) {
      const queue: Status[] = [state.status(req.service) ?? Status.SERVICE_UNKNOWN];
      let wake: (() => void) | undefined;
      const off = state.onChange((name, s) => {
        if (name === req.service) {
          queue.push(s);
          wake?.();
        }
      });
      const deadline = Date.now() + WATCH_MAX_MS;
      try {
        while (!ctx.signal.aborted && Date.now() < deadline) {
          const next = queue.shift();
          if (next !== undefined) {
            yield create(HealthCheckResponseSchema, { status: next });
            continue;
          }
          await new Promise<void>((resolve) => {
            wake = resolve;
            const t = setTimeout(resolve, 5_000);
            ctx.signal.addEventListener("abort", () => resolve(), { once: true });
            void t;
          });
          wake = undefined;
        }
      } finally {
        off();
      }
    },
  });

export { Status as ServingStatus };
