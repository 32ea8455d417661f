// A service URL's host to the addresses of its replicas. The system resolver
// (getaddrinfo: /etc/hosts, DNS and its search domains, as every other program on the host
// sees them) answers with every address a name has: all pods behind a Kubernetes headless
// Service, all containers of a compose service with replicas.
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";

/** The host part of a URL as a resolver takes it (an IPv6 literal without its brackets). */
export function hostOf(url: URL): string {
  const h = url.hostname;
  return h.startsWith("[") && h.endsWith("]") ? h.slice(1, -1) : h;
}

/** Names this process answers itself, as lines of /etc/hosts would (see `pinHost`). */
const pinned = new Map<string, readonly string[]>();

/**
 * Makes `host` resolve to `addresses` in this process only, ahead of the system resolver;
 * returns the function that removes it. For a process that must see one name with several
 * addresses where the host's own files and DNS give none (the replica test on loopback).
 */
export function pinHost(host: string, addresses: readonly string[]): () => void {
  const key = host.toLowerCase();
  const list = [...addresses];
  pinned.set(key, list);
  return () => {
    if (pinned.get(key) === list) pinned.delete(key);
  };
}

/** Every address `host` resolves to now, in the resolver's order without repeats; an IP literal is itself. */
export async function resolveHost(host: string): Promise<string[]> {
  if (isIP(host)) return [host];
  const own = pinned.get(host.toLowerCase());
  if (own) return [...own];
  const found = await lookup(host, { all: true });
  return [...new Set(found.map((a) => a.address))];
}
