// Where Redis is, from configuration: one server (`redis://`, `rediss://`, as ioredis reads
// them) or a Redis Cluster, named by some of its nodes:
//
//   redis+cluster://[user:password@]host:port,host:port,...     (rediss+cluster:// for TLS)
//   REDIS_CLUSTER_NODES=host:port,host:port,...                 (the same without credentials)
//
// The client learns the other nodes and the slot map from any node it reaches, so a few
// seed nodes (or one name resolving to them all) are enough.

/** At most this many seed nodes: a cluster's client needs a few, not a list of every pod. */
export const REDIS_CLUSTER_NODES_MAX = 64;
const DEFAULT_PORT = 6379;
const CLUSTER_SCHEME = /^(rediss?)\+cluster:\/\/(.*)$/i;

export interface RedisNode {
  host: string;
  port: number;
}

export type RedisTarget =
  | { kind: "single"; url: string }
  | { kind: "cluster"; nodes: RedisNode[]; tls: boolean; username?: string; password?: string };

/** True when `raw` names a cluster (a `redis+cluster://` or `rediss+cluster://` URL). */
export const isClusterUrl = (raw: string): boolean => CLUSTER_SCHEME.test(raw);

/**
 * Reads a REDIS_URL. Throws an Error whose message says what is wrong (without echoing a
 * password).
 */
export function parseRedisUrl(raw: string): RedisTarget {
  const m = CLUSTER_SCHEME.exec(raw);
  if (!m) {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      throw new Error("is not a valid URL");
    }
    if (u.protocol !== "redis:" && u.protocol !== "rediss:") {
      throw new Error(`must use redis:, rediss:, redis+cluster: or rediss+cluster: (got ${u.protocol})`);
    }
    return { kind: "single", url: raw };
  }
  const tls = m[1]!.toLowerCase() === "rediss";
  let rest = m[2]!;
  let username: string | undefined;
  let password: string | undefined;
  const at = rest.lastIndexOf("@");
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = userinfo.indexOf(":");
    try {
      username = decodeURIComponent(colon >= 0 ? userinfo.slice(0, colon) : userinfo) || undefined;
      password = colon >= 0 ? decodeURIComponent(userinfo.slice(colon + 1)) || undefined : undefined;
    } catch {
      throw new Error("has badly percent-encoded credentials");
    }
  }
  // A cluster has database 0 only: a path or query would be a setting silently ignored.
  const slash = rest.search(/[/?#]/);
  if (slash >= 0) {
    const tail = rest.slice(slash);
    if (tail !== "/" && tail !== "/0") throw new Error("must not name a database or options after the nodes (a cluster has database 0 only)");
    rest = rest.slice(0, slash);
  }
  return { kind: "cluster", nodes: parseRedisNodes(rest), tls, username, password };
}

/** Reads a `host:port,host:port` list (REDIS_CLUSTER_NODES, or a cluster URL's nodes). */
export function parseRedisNodes(list: string): RedisNode[] {
  const items = list.split(",").map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new Error("names no node (expected host:port,host:port)");
  if (items.length > REDIS_CLUSTER_NODES_MAX) throw new Error(`names ${items.length} nodes; at most ${REDIS_CLUSTER_NODES_MAX}`);
  return items.map(parseNode);
}

function parseNode(item: string): RedisNode {
  // [v6 address]:port, host:port, or a bare host on the default port.
  const m = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(item) ?? /^([A-Za-z0-9._-]+)(?::(\d+))?$/.exec(item);
  if (!m) throw new Error(`has a node "${item}" that is not host:port`);
  const port = m[2] === undefined ? DEFAULT_PORT : Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`has a node "${item}" whose port is not from 1 to 65535`);
  return { host: m[1]!, port };
}

/** The cluster URL naming `nodes` (what REDIS_CLUSTER_NODES stands for). */
export function clusterUrl(nodes: RedisNode[]): string {
  return `redis+cluster://${nodes.map((n) => (n.host.includes(":") ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`)).join(",")}`;
}

/**
 * The Redis of this process from REDIS_URL or REDIS_CLUSTER_NODES (as a cluster URL), or
 * undefined for the in-process store; each mistake is pushed onto `problems`.
 */
export function redisUrlFromEnv(env: Record<string, string | undefined>, problems: string[]): string | undefined {
  const url = env.REDIS_URL || undefined;
  const nodes = env.REDIS_CLUSTER_NODES || undefined;
  if (url && nodes) {
    problems.push("set REDIS_URL or REDIS_CLUSTER_NODES, not both (credentials and TLS: REDIS_URL=redis+cluster://user:password@host:port,...)");
    return undefined;
  }
  try {
    if (nodes) return clusterUrl(parseRedisNodes(nodes));
    if (url) parseRedisUrl(url);
    return url;
  } catch (err) {
    problems.push(`${nodes ? "REDIS_CLUSTER_NODES" : "REDIS_URL"} ${(err as Error).message}`);
    return undefined;
  }
}
