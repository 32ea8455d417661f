// Fan-out of availability changes to WatchAvailability subscribers of this instance.
//
// Every replica runs one hub. Writers NOTIFY on `station_availability` in their own
// transaction (payload `<station_id>:<FUEL>,…`); each replica's hub LISTENs on one
// dedicated connection, marks the station dirty, and a single worker reads the current
// state of dirty stations that have subscribers (one query per batch, not per subscriber)
// and offers it to each subscriber's coalescing queue. A writer's cost is the NOTIFY;
// a slow subscriber only ever fills its own bounded queue and is then cut off.
//
// The embedded PGlite serves all connections from one session and delivers a
// notification to whichever connection is active, not to the listener, so embedded
// (single process) the hub is fed in-process by the writer after commit instead.
import type { PoolClient } from "pg";
import { createPool, type Pool } from "../../platform/db.js";
import { log } from "../../platform/logger.js";
import { CoalescingQueue } from "./coalescing-queue.js";
import * as store from "./store.js";
import type { FuelRow } from "./store.js";

export interface WatchFilter {
  stationIds: Set<string>;
  /** Only these fuel types; null = all. */
  fuelTypes: Set<string> | null;
}

export interface Subscription {
  filter: WatchFilter;
  queue: CoalescingQueue<FuelRow>;
}

export interface HubOptions {
  /** Publish through Postgres NOTIFY (true) or in-process (false, embedded). */
  notify: boolean;
  /** Distinct (station, fuel type) keys a subscriber may have pending. */
  capacity?: number;
  /** How long a pending update may wait for its subscriber before it is cut off. */
  maxLagMs?: number;
}

export class WatchHub {
  readonly notifiesThroughPostgres: boolean;
  private readonly byStation = new Map<string, Set<Subscription>>();
  /** station id → fuel types changed (null = all, after a resync). */
  private dirty = new Map<string, Set<string> | null>();
  private working = false;
  private closed = false;
  private idle: Promise<void> = Promise.resolve();

  constructor(private readonly pool: Pool, private readonly opts: HubOptions) {
    this.notifiesThroughPostgres = opts.notify;
  }

  subscribe(filter: WatchFilter, limits: { capacity?: number; maxLagMs?: number } = {}): Subscription {
    const sub: Subscription = {
      filter,
      queue: new CoalescingQueue<FuelRow>({
        capacity: limits.capacity ?? this.opts.capacity ?? 1024,
        maxLagMs: limits.maxLagMs ?? this.opts.maxLagMs ?? 10_000,
      }),
    };
    if (this.closed) {
      sub.queue.close();
      return sub;
    }
    for (const id of filter.stationIds) {
      let set = this.byStation.get(id);
      if (!set) this.byStation.set(id, (set = new Set()));
      set.add(sub);
    }
    return sub;
  }

  unsubscribe(sub: Subscription): void {
    sub.queue.close();
    for (const id of sub.filter.stationIds) {
      const set = this.byStation.get(id);
      if (!set) continue;
      set.delete(sub);
      if (set.size === 0) this.byStation.delete(id);
    }
  }

  get subscriberCount(): number {
    const all = new Set<Subscription>();
    for (const set of this.byStation.values()) for (const s of set) all.add(s);
    return all.size;
  }

  /** A committed change of these fuel types of a station (from NOTIFY or the writer). */
  changed(stationId: string, fuelTypes: string[] | null): void {
    if (this.closed || !this.byStation.has(stationId)) return;
    const prev = this.dirty.get(stationId);
    if (prev === null || fuelTypes === null) this.dirty.set(stationId, null);
    else this.dirty.set(stationId, new Set([...(prev ?? []), ...fuelTypes]));
    this.kick();
  }

  /** After the listener reconnects, notifications may have been missed: re-read everything watched. */
  resyncAll(): void {
    for (const id of this.byStation.keys()) this.changed(id, null);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const set of this.byStation.values()) for (const sub of set) sub.queue.close();
    this.byStation.clear();
    this.dirty.clear();
    await this.idle;
  }

  private kick(): void {
    if (this.working) return;
    this.working = true;
    this.idle = this.work().finally(() => {
      this.working = false;
      // A change that arrived while the worker was finishing must not wait for the next one.
      if (this.dirty.size > 0 && !this.closed) this.kick();
    });
  }

  private async work(): Promise<void> {
    while (this.dirty.size > 0 && !this.closed) {
      const batch = this.dirty;
      this.dirty = new Map();
      const ids = [...batch.keys()].filter((id) => this.byStation.has(id));
      let rows: FuelRow[];
      try {
        rows = await store.fuelsOf(this.pool, ids);
      } catch (err) {
        log.warn({ err }, "watch: reading changed availability failed; retrying");
        for (const [id, types] of batch) this.changed(id, types === null ? null : [...types]);
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      for (const row of rows) {
        const types = batch.get(row.station_id);
        if (types !== null && types !== undefined && !types.has(row.fuel_type)) continue;
        for (const sub of this.byStation.get(row.station_id) ?? []) {
          if (sub.filter.fuelTypes && !sub.filter.fuelTypes.has(row.fuel_type)) continue;
          // A subscriber that has fallen behind is dropped here; its stream ends with
          // RESOURCE_EXHAUSTED when it next reads.
          if (!sub.queue.offer(`${row.station_id}:${row.fuel_type}`, row)) this.unsubscribe(sub);
        }
      }
    }
  }
}

const PAYLOAD = /^([0-9a-f-]{36}):([A-Z,]*)$/;

export function parsePayload(payload: string | undefined): { stationId: string; fuelTypes: string[] } | null {
  const m = PAYLOAD.exec(payload ?? "");
  if (!m) return null;
  return { stationId: m[1]!, fuelTypes: m[2] ? m[2].split(",") : [] };
}

/**
 * The longest wait between two attempts to LISTEN again: watchers hear of changes at most
 * this long after the database is back.
 */
const LISTEN_RETRY_MAX_MS = 2_000;

/**
 * The replica's dedicated LISTEN connection. Reconnects with backoff; after a reconnect
 * every watched station is re-read, since notifications sent meanwhile are lost.
 * `databaseUrl` must reach PostgreSQL directly: a pooler in transaction mode (PgBouncer)
 * would hand the LISTEN a server session only for its own statement, and notifications
 * would go to whichever client holds that session later, or to none. Writers NOTIFY
 * inside their transaction, which works through a pooler.
 */
export class ChangeListener {
  private readonly pool: Pool;
  private client: PoolClient | null = null;
  private stopped = false;
  private retryMs = 250;
  private timer: NodeJS.Timeout | null = null;

  constructor(databaseUrl: string, private readonly hub: WatchHub) {
    this.pool = createPool({ connectionString: databaseUrl, max: 1, application: "station-listener" });
  }

  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    const client = await this.pool.connect();
    client.on("notification", (n) => {
      if (n.channel !== store.CHANGES_CHANNEL) return;
      const change = parsePayload(n.payload);
      if (change) this.hub.changed(change.stationId, change.fuelTypes.length > 0 ? change.fuelTypes : null);
    });
    client.on("error", (err) => this.lost(client, err));
    client.on("end", () => this.lost(client, new Error("listener connection ended")));
    try {
      await client.query(`LISTEN ${store.CHANGES_CHANNEL}`);
    } catch (err) {
      client.release(true);
      throw err;
    }
    this.client = client;
    this.retryMs = 250;
  }

  private lost(client: PoolClient, err: Error): void {
    if (this.client !== client) return;
    this.client = null;
    client.release(true);
    if (this.stopped) return;
    log.warn({ err }, "watch: LISTEN connection lost; reconnecting");
    this.schedule();
  }

  private schedule(): void {
    this.timer = setTimeout(async () => {
      this.timer = null;
      if (this.stopped) return;
      try {
        await this.connect();
        this.hub.resyncAll();
      } catch (err) {
        log.warn({ err }, "watch: LISTEN reconnect failed");
        this.retryMs = Math.min(this.retryMs * 2, LISTEN_RETRY_MAX_MS);
        this.schedule();
      }
    }, this.retryMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const c = this.client;
    this.client = null;
    if (c) {
      await c.query(`UNLISTEN *`).catch(() => undefined);
      c.release(true);
    }
    await this.pool.end();
  }
}
