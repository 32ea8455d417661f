// The console's session endpoints: edge plumbing that keeps a refresh token out of the
// page. AuthService answers a sign-in or a refresh with both tokens in the body; here the
// refresh token goes into an HttpOnly cookie scoped to these endpoints, and the page gets
// only the short-lived access token, which it keeps in memory. Nothing here is a service
// feature: each endpoint is one public AuthService call (VerifyOtp, RefreshSession,
// RevokeSession) made over the mesh with the browser's address as the client IP, so the
// service's own per-IP limits apply as they do to any client.
//
//   POST /console/session/verify   {"phone","code"} → {"accessToken","expiresAt","principal"} + cookie
//   POST /console/session/refresh  (cookie)         → the same, cookie rotated
//   POST /console/session/logout   (cookie)         → {} and the cookie cleared
//
// Errors come back in the Connect protocol's JSON error form (code, message, details with
// the ErrorInfo), so the page reads them as it reads any RPC's.
import { randomBytes } from "node:crypto";
import { create, toJson } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, errorToJson } from "@connectrpc/connect/protocol-connect";
import { AuthService, PrincipalSchema, type Session } from "../gen/fuel/auth/v1/auth_pb.js";
import { currentCall, type CallInfo } from "../platform/context.js";
import type { Mesh } from "../platform/mesh.js";
import type { NodeHandler } from "./edge.js";

export const SESSION_PATH = "/console/session/";
export const REFRESH_COOKIE = "fuel_console_refresh";
/** Sign-in bodies are a phone and a code; anything larger is refused unread. */
const MAX_BODY_BYTES = 4 * 1024;
const CALL_TIMEOUT_MS = 10_000;

type Req = Parameters<NodeHandler>[0];
type Res = Parameters<NodeHandler>[1];

function cookieValue(req: Req, name: string): string {
  for (const part of String(req.headers.cookie ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return "";
}

/**
 * HttpOnly (no script reads it), Secure (never over plain http, except that browsers treat
 * http://localhost as secure), SameSite=Strict (never sent by another site's page), and
 * only to these endpoints.
 */
function refreshCookie(token: string, maxAgeSeconds: number): string {
  return `${REFRESH_COOKIE}=${encodeURIComponent(token)}; Path=${SESSION_PATH}; Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}; HttpOnly; Secure; SameSite=Strict`;
}

function sendJson(res: Res, status: number, body: unknown, cookie?: string): void {
  if (res.headersSent) return;
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (cookie) headers["set-cookie"] = cookie;
  res.writeHead(status, headers);
  res.end(JSON.stringify(body));
}

function sendError(res: Res, err: unknown, cookie?: string): void {
  const e = ConnectError.from(err);
  sendJson(res, codeToHttpStatus(e.code), errorToJson(e, undefined), cookie);
}

/**
 * A browser sends Origin on every POST: it must be this host's own. Another origin that
 * the edge's CORS list admits (or another port of localhost, which is the same site) does
 * not get to sign in, refresh or sign out through the console's cookie.
 */
function sameOrigin(req: Req): boolean {
  const origin = req.headers.origin;
  if (!origin) return req.headers["sec-fetch-site"] === undefined || req.headers["sec-fetch-site"] === "same-origin";
  const host = req.headers.host ?? (req.headers as Record<string, unknown>)[":authority"];
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

function readBody(req: Req): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new ConnectError(`body exceeds ${MAX_BODY_BYTES} bytes`, Code.ResourceExhausted));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** What the page keeps: the access token and who it speaks for, never the refresh token. */
function pageSession(s: Session) {
  return {
    accessToken: s.accessToken,
    expiresAt: s.accessTokenExpiresAt ? new Date(timestampMs(s.accessTokenExpiresAt)).toISOString() : "",
    principal: toJson(PrincipalSchema, s.principal ?? create(PrincipalSchema)),
  };
}

function cookieFor(s: Session): string {
  const until = s.refreshTokenExpiresAt ? timestampMs(s.refreshTokenExpiresAt) : Date.now();
  return refreshCookie(s.refreshToken, (until - Date.now()) / 1000);
}

const cleared = () => refreshCookie("", 0);

export function consoleSession(mesh: Mesh): NodeHandler {
  const auth = mesh.client(AuthService);
  // The mesh client carries the current call's client IP and deadline onward.
  const asClient = <T>(req: Req, fn: () => Promise<T>): Promise<T> => {
    const info: CallInfo = {
      traceId: randomBytes(16).toString("hex"),
      principal: null,
      accessToken: null,
      callerService: null,
      clientIp: req.socket?.remoteAddress ?? "",
      deadlineAt: Date.now() + CALL_TIMEOUT_MS,
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    };
    return currentCall.run(info, fn);
  };

  const handlers: Record<string, (req: Req, res: Res) => Promise<void>> = {
    verify: async (req, res) => {
      let input: { phone?: unknown; code?: unknown };
      try {
        input = JSON.parse((await readBody(req)).toString() || "{}") as typeof input;
      } catch (err) {
        throw err instanceof ConnectError ? err : new ConnectError("body must be JSON", Code.InvalidArgument);
      }
      const r = await asClient(req, () => auth.verifyOtp({ phone: String(input.phone ?? ""), code: String(input.code ?? "") }));
      sendJson(res, 200, pageSession(r.session!), cookieFor(r.session!));
    },
    refresh: async (req, res) => {
      req.resume();
      const token = cookieValue(req, REFRESH_COOKIE);
      if (!token) throw new ConnectError("no console session", Code.Unauthenticated);
      try {
        const r = await asClient(req, () => auth.refreshSession({ refreshToken: token }));
        sendJson(res, 200, pageSession(r.session!), cookieFor(r.session!));
      } catch (err) {
        // A spent, reused or expired token will not work again: forget it.
        if (ConnectError.from(err).code === Code.Unauthenticated) return sendError(res, err, cleared());
        throw err;
      }
    },
    logout: async (req, res) => {
      req.resume();
      const token = cookieValue(req, REFRESH_COOKIE);
      if (token) await asClient(req, () => auth.revokeSession({ refreshToken: token }));
      sendJson(res, 200, {}, cleared());
    },
  };

  return (req, res) => {
    const name = (req.url ?? "").split("?")[0]!.slice(SESSION_PATH.length);
    const handler = handlers[name];
    if (!handler) return sendJson(res, 404, { code: "not_found", message: "no such console endpoint" });
    if (req.method !== "POST") {
      res.setHeader("allow", "POST");
      return sendJson(res, 405, { code: "unimplemented", message: "method not allowed" });
    }
    if (!sameOrigin(req)) return sendJson(res, 403, { code: "permission_denied", message: "cross-origin request refused" });
    handler(req, res).catch((err: unknown) => sendError(res, err));
  };
}
