// Looking at every key a suite's Redis holds, on one server or across a cluster's
// masters (KEYS and DEL on a cluster client reach one master, or one slot, only). Types
// only from ioredis here: system.ts loads this before tracing patches ioredis.
import { once } from "node:events";
import type { Cluster, Redis } from "ioredis";
import type { RedisConnection } from "../../platform/kv.js";

/** The servers holding keys: every master of a cluster, or the one server. */
export async function keyServers(redis: RedisConnection): Promise<Redis[]> {
  if (!redis.isCluster) return [redis as Redis];
  const cluster = redis as Cluster;
  if (cluster.status !== "ready") await once(cluster, "ready");
  return cluster.nodes("master");
}

/** KEYS `pattern` on every server holding keys (on a cluster, KEYS asks one master only). */
export async function keysEverywhere(redis: RedisConnection, pattern: string): Promise<string[]> {
  const found = await Promise.all((await keyServers(redis)).map((node) => node.keys(pattern)));
  return found.flat();
}

/** Deletes `keys` one by one: on a cluster one DEL may only name keys of one slot. */
export async function deleteEach(redis: RedisConnection, keys: string[]): Promise<void> {
  await Promise.all(keys.map((k) => redis.del(k)));
}
