// grpc.health.v1.Health as a Connect service (Kubernetes gRPC probes, load balancers).
// "" names the whole server; each hosted service has its own entry. An entry is
// NOT_SERVING while anything holds it down: SIGTERM (all entries, before the server stops
// accepting, so balancers drain first), or a service's database not answering its probe
// (db-probe.ts). Probes should use it for readiness, not liveness: a database outage takes
// a replica out of rotation, and a restart would not bring the database back. Liveness
// asks for LIVENESS, the one entry nothing holds down: it is SERVING whenever the process
// answers at all, so only a process that has stopped answering is restarted.
//
// The gateway serves no domain service itself; its health mirrors the services running
// in its process: its "" is NOT_SERVING while any of them is, and its entry for a
// service is that service's own while the service runs here. A service in another process
// answers for itself at its own port.
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
/** What holds every entry down once the server drains. */
export const DRAINING = "draining";
/** The entry for liveness probes: SERVING whenever the process answers (no reason holds it down). */
export const LIVENESS = "liveness";

/** The services' states of this process, which a mirroring state (the gateway's) follows. */
const inProcess = new Set<HealthState>();
const inProcessEvents = new EventEmitter();
inProcessEvents.setMaxListeners(0);

export class HealthState {
  /** Entry name → what holds it down (empty: SERVING). */
  private readonly down = new Map<string, Set<string>>();
  private readonly events = new EventEmitter();
  private readonly drainStarted = new AbortController();
  /** Aborted when the server starts to drain (DRAINING held): long-lived streams end then. */
  readonly draining: AbortSignal = this.drainStarted.signal;

  /** @param mirrorProcess follow the services of this process (the gateway's state). */
  constructor(serviceNames: string[], private readonly opts: { mirrorProcess?: boolean } = {}) {
    this.events.setMaxListeners(1000);
    this.down.set("", new Set());
    for (const s of serviceNames) this.down.set(s, new Set());
  }

  status(name: string): Status | undefined {
    if (name === LIVENESS) return Status.SERVING;
    const own = this.down.get(name);
    if (own === undefined) return undefined;
    if (own.size > 0) return Status.NOT_SERVING;
    if (this.opts.mirrorProcess) {
      for (const other of inProcess) {
        if (other === this) continue;
        const theirs = other.down.get(name);
        if (theirs && theirs.size > 0) return Status.NOT_SERVING;
      }
    }
    return Status.SERVING;
  }

  /** Holds every entry down for `reason` (`down` true) or lets go of it. */
  hold(reason: string, down: boolean): void {
    let changed = false;
    for (const reasons of this.down.values()) {
      const had = reasons.has(reason);
      if (down && !had) reasons.add(reason);
      if (!down && had) reasons.delete(reason);
      changed ||= had !== down;
    }
    if (down && reason === DRAINING) this.drainStarted.abort();
    if (!changed) return;
    for (const name of this.down.keys()) this.events.emit("change", name, this.status(name));
    if (inProcess.has(this)) inProcessEvents.emit("change");
  }

  /** Counts this state among the process's services (a mirroring state follows it); returns the undo. */
  registerInProcess(): () => void {
    inProcess.add(this);
    inProcessEvents.emit("change");
    return () => {
      inProcess.delete(this);
      inProcessEvents.emit("change");
    };
  }

  /** Calls `fn` with an entry's status when it may have changed (repeats are possible). */
  onChange(fn: (name: string, s: Status) => void): () => void {
    this.events.on("change", fn);
    const followed = () => {
      for (const name of this.down.keys()) fn(name, this.status(name)!);
    };
    if (this.opts.mirrorProcess) inProcessEvents.on("change", followed);
    return () => {
      this.events.off("change", fn);
      inProcessEvents.off("change", followed);
    };
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
      let sent: Status | undefined;
      try {
        while (!ctx.signal.aborted && Date.now() < deadline) {
          const next = queue.shift();
          if (next !== undefined) {
            // A watcher is told of changes, not of every look at an unchanged entry.
            if (next === sent) continue;
            sent = next;
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
