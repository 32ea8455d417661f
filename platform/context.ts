// What a handler knows about the call it serves: who is calling, on whose behalf, from
// where, under which trace. Set by the server interceptors, read by handlers and by the
// mesh client so a hop carries identity, trace and deadline onward.
import { AsyncLocalStorage } from "node:async_hooks";
import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import { Role } from "../gen/fuel/common/v1/common_pb.js";

/** An authenticated end user or machine. */
export interface Principal {
  subjectId: string;
  role: Role;
  agencyId: string;
  bankId: string;
  merchantId: string;
  stationId: string;
  driverId: string;
}

export interface CallInfo {
  traceId: string;
  /** The end user or machine, if any credential was presented. */
  principal: Principal | null;
  /** The raw access token, forwarded on hops so the next service sees the same user. */
  accessToken: string | null;
  /** The calling mesh service, when the call came with a valid service token. */
  callerService: string | null;
  /** Client IP as seen by the edge. */
  clientIp: string;
  /** Absolute deadline (ms since epoch). */
  deadlineAt: number;
  signal: AbortSignal;
}

export const callInfoKey = createContextKey<CallInfo | null>(null, { description: "fuel call info" });
export const clientIpKey = createContextKey<string>("", { description: "socket peer address" });
/** Set on a call the gateway handed to a service in its own process: it entered at the edge. */
export const atEdgeKey = createContextKey<boolean>(false, { description: "entered at the public edge" });

/** The current call, for code that has no HandlerContext at hand (mesh clients, logs). */
export const currentCall = new AsyncLocalStorage<CallInfo>();

export function callInfo(ctx: HandlerContext): CallInfo {
  const info = ctx.values.get(callInfoKey);
  if (!info) throw new Error("call info missing: server interceptors not installed");
  return info;
}

/** The authenticated principal of a call whose policy requires one. */
export function principalOf(ctx: HandlerContext): Principal {
  const p = callInfo(ctx).principal;
  if (!p) throw new Error("principal missing on a method whose policy requires one");
  return p;
}

export function anonymousPrincipal(): Principal {
  return { subjectId: "", role: Role.UNSPECIFIED, agencyId: "", bankId: "", merchantId: "", stationId: "", driverId: "" };
}
