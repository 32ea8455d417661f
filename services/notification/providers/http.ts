// A bounded fetch for the HTTP provider adapters: every failure becomes a ProviderError.
import { ProviderError } from "../classify.js";

export interface HttpAnswer {
  status: number;
  json: Record<string, unknown> | null;
}

export async function providerFetch(url: string, init: RequestInit, timeoutMs: number): Promise<HttpAnswer> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs), redirect: "error" });
  } catch (err) {
    const name = (err as Error)?.name;
    if (name === "TimeoutError" || name === "AbortError") throw new ProviderError({ kind: "timeout" });
    throw new ProviderError({ kind: "network" });
  }
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    const name = (err as Error)?.name;
    throw new ProviderError({ kind: name === "TimeoutError" || name === "AbortError" ? "timeout" : "network" });
  }
  let json: Record<string, unknown> | null = null;
  try {
    const parsed: unknown = text ? JSON.parse(text) : null;
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
  } catch {
    json = null;
  }
  return { status: res.status, json };
}

/** Splits credentials and query options off a provider URL, leaving its base. */
export function splitProviderUrl(raw: string): { base: string; user: string; pass: string; params: URLSearchParams } {
  const u = new URL(raw);
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  const params = new URLSearchParams(u.search);
  u.username = "";
  u.password = "";
  u.search = "";
  u.hash = "";
  return { base: u.toString().replace(/\/+$/, ""), user, pass, params };
}
