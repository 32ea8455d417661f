// The signed-in session, in memory only: the access token lives in this module's closure
// (never localStorage or sessionStorage), the refresh token in an HttpOnly cookie the page
// cannot read, sent only to /console/session/* (gateway/console-session.ts). A reload
// resumes the session through that cookie; signing out revokes it on the server.
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { ConnectError, Code } from "@connectrpc/connect";
import { errorFromJson } from "@connectrpc/connect/protocol-connect";
import { PrincipalSchema, type Principal } from "../../gen/fuel/auth/v1/auth_pb.js";

interface Current {
  accessToken: string;
  expiresAt: number;
  principal: Principal;
}

let current: Current | null = null;
let refreshing: Promise<boolean> | null = null;
let timer: number | undefined;
const listeners = new Set<() => void>();

/** Refresh this long before the access token expires, so calls never carry a dead one. */
const REFRESH_AHEAD_MS = 60_000;
const SESSION_TIMEOUT_MS = 15_000;

export const session = () => current;
export const accessToken = () => current?.accessToken ?? "";
export function onSessionChange(fn: () => void): void {
  listeners.add(fn);
}

async function post(path: string, body: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`/console/session/${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin",
      signal: AbortSignal.timeout(SESSION_TIMEOUT_MS),
    });
  } catch {
    throw new ConnectError("network error", Code.Unavailable);
  }
  const json = (await res.json().catch(() => ({}))) as JsonValue;
  if (!res.ok) throw errorFromJson(json, undefined, new ConnectError(`HTTP ${res.status}`, Code.Unknown));
  return json;
}

function take(json: unknown): void {
  const j = json as { accessToken: string; expiresAt: string; principal: JsonValue };
  current = { accessToken: j.accessToken, expiresAt: Date.parse(j.expiresAt), principal: fromJson(PrincipalSchema, j.principal, { ignoreUnknownFields: true }) };
  window.clearTimeout(timer);
  const inMs = Math.max(5_000, current.expiresAt - Date.now() - REFRESH_AHEAD_MS);
  timer = window.setTimeout(() => void refresh(), inMs);
  for (const fn of listeners) fn();
}

function drop(): void {
  const had = current !== null;
  current = null;
  window.clearTimeout(timer);
  if (had) for (const fn of listeners) fn();
}

export async function signIn(phone: string, code: string): Promise<void> {
  take(await post("verify", { phone, code }));
}

/** One refresh at a time (a refresh token is single use); false when the session is over. */
export function refresh(): Promise<boolean> {
  refreshing ??= post("refresh", {})
    .then((j) => (take(j), true))
    .catch((err) => {
      // Only an answer that the session is over ends it; a network blip does not.
      if (ConnectError.from(err).code === Code.Unauthenticated) drop();
      return false;
    })
    .finally(() => (refreshing = null));
  return refreshing;
}

export async function signOut(): Promise<void> {
  try {
    await post("logout", {});
  } finally {
    drop();
  }
}
