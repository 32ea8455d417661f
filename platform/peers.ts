// The replicas of one service, as a mesh client reaches them. gRPC keeps one HTTP/2
// connection per peer for as long as it can, so behind a plain (kube-proxy) Service every
// call of a client would land on the one replica its connection happened to reach.
// Instead the client resolves its URL's name to all of the service's addresses (a
// headless Service, compose replicas), holds one HTTP/2 session per address, and picks
// an address per call (balancer.ts). The name is resolved again every
// MESH_RESOLVE_INTERVAL_MS while calls are made, and sooner after a connection fails;
// sessions to addresses that left are closed once their calls finish.
import http2, { type ClientHttp2Session, type SecureClientSessionOptions } from "node:http2";
import net, { isIP } from "node:net";
import tls from "node:tls";
import { randomInt } from "node:crypto";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { Picker, type Endpoint } from "./balancer.js";
import { DEFAULT_MESH_RESOLVE_INTERVAL_MS } from "./config.js";
import { LogThrottle } from "./log-throttle.js";
import { log } from "./logger.js";
import { hostOf, resolveHost } from "./resolver.js";

/**
 * A connection not made within this is given up and its address ejected: an address
 * nobody answers any more (a pod gone from its node drops the SYN) must not hold calls for
 * their whole deadline, and a healthy connection here, TLS included, takes milliseconds.
 */
export const CONNECT_TIMEOUT_MS = 2_000;
/** After a connection fails the name is resolved again within this, whatever the interval. */
const RESOLVE_AFTER_FAILURE_MS = 250;
/** While the name has never resolved, calls fail with the resolver's error for this long before it is asked again. */
const RESOLVE_RETRY_MS = 1_000;
/** An idle session is closed after this (a new call opens another). */
const IDLE_SESSION_MS = 5 * 60_000;

export interface Peer extends Endpoint {
  /** The open HTTP/2 session to this address, if any. */
  session: ClientHttp2Session | undefined;
}

/** Sessions whose connection was made: a stream on a session that never connected was never sent. */
const reached = new WeakSet<ClientHttp2Session>();

/** Whether `session` ever connected to its peer (so a stream on it may have reached the server). */
export function everConnected(session: ClientHttp2Session): boolean {
  return reached.has(session);
}

const failureLog = new LogThrottle(10_000);

export class Peers {
  readonly url: URL;
  private readonly host: string;
  private readonly port: number;
  private readonly picker = new Picker<Peer>(randomInt(0, 1 << 16));
  /** Addresses are fixed: an IP literal, or resolution switched off (interval 0). */
  private readonly fixed: boolean;
  private resolved = false;
  private resolving: Promise<void> | undefined;
  private nextResolveAtMs = 0;

  /**
   * `resolveIntervalMs` 0 connects to the URL's host as given, with one session, for a
   * proxy or service mesh that balances calls itself.
   */
  constructor(readonly baseUrl: string, private readonly resolveIntervalMs = DEFAULT_MESH_RESOLVE_INTERVAL_MS) {
    this.url = new URL(baseUrl);
    this.host = hostOf(this.url);
    this.port = Number(this.url.port) || (this.url.protocol === "https:" ? 443 : 80);
    this.fixed = resolveIntervalMs === 0 || isIP(this.host) !== 0;
    if (this.fixed) {
      this.picker.update([this.host], (a) => this.make(a));
      this.resolved = true;
    }
  }

  /** Every address known now. */
  get addresses(): string[] {
    return this.picker.endpoints.map((p) => p.address);
  }

  /**
   * Undefined when a call can pick an address now; otherwise a promise that settles once
   * the name has been resolved for the first time (rejecting with UNAVAILABLE if it cannot be).
   * Starts a resolution in the background when one is due.
   */
  pending(): Promise<void> | undefined {
    if (this.fixed) return undefined;
    if (!this.resolving && performance.now() >= this.nextResolveAtMs) this.resolving = this.resolve();
    return this.resolved ? undefined : this.resolving;
  }

  /** The peer for the next call, not one of `exclude`; undefined when none is left. */
  pick(exclude?: readonly Peer[]): Peer | undefined {
    return this.picker.pick(performance.now(), exclude);
  }

  /** The open session to `peer`, or a new one. */
  session(peer: Peer): ClientHttp2Session {
    const s = peer.session;
    if (s && !s.closed && !s.destroyed) return s;
    const next = http2.connect(this.baseUrl, this.nodeOptions(peer));
    const timer = setTimeout(() => next.destroy(new Error(`no connection within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
    timer.unref();
    const forget = () => {
      if (peer.session === next) peer.session = undefined;
    };
    next.once("connect", () => {
      clearTimeout(timer);
      reached.add(next);
      this.picker.connected(peer);
    });
    next.on("goaway", forget);
    next.on("close", () => {
      clearTimeout(timer);
      forget();
    });
    // A session error fails the streams on it (they see it themselves); never the process.
    next.on("error", (err: NodeJS.ErrnoException) => {
      forget();
      this.failed(peer, err);
    });
    next.setTimeout(IDLE_SESSION_MS, () => next.close());
    // Idle sessions must not keep a process alive; open streams do.
    next.unref();
    peer.session = next;
    return next;
  }

  /** How node:http2 reaches `peer`: its own address, under the URL's name (the authority, and the TLS server name). */
  nodeOptions(peer: Peer): SecureClientSessionOptions {
    const options: SecureClientSessionOptions = { maxSessionMemory: 64 };
    if (peer.address === this.host) return options;
    const address = peer.address;
    const port = this.port;
    const servername = isIP(this.host) ? undefined : this.host;
    options.createConnection = () =>
      this.url.protocol === "https:" ? tls.connect({ host: address, port, servername, ALPNProtocols: ["h2"] }) : net.connect({ host: address, port });
    return options;
  }

  private failed(peer: Peer, err: NodeJS.ErrnoException): void {
    const now = performance.now();
    this.picker.failed(peer, now);
    if (!this.fixed) this.nextResolveAtMs = Math.min(this.nextResolveAtMs, now + RESOLVE_AFTER_FAILURE_MS);
    const pass = failureLog.pass(`${this.host}:${this.port}@${peer.address}`);
    if (pass) {
      log.warn({ peer: `${peer.address}:${this.port}`, host: this.host, error: err.code ?? err.message, failures: peer.failures, ejected_ms: Math.round(peer.ejectedUntilMs - now), suppressed: pass.suppressed },
        "mesh peer unreachable; calls go to the others");
    }
  }

  private make(address: string): Peer {
    return { address, failures: 0, ejectedUntilMs: 0, session: undefined };
  }

  private async resolve(): Promise<void> {
    let ok = false;
    try {
      const before = this.addresses.join(",");
      const gone = this.picker.update(await resolveHost(this.host), (a) => this.make(a));
      // The calls already on a session to an address that left finish; no new one starts.
      for (const p of gone) p.session?.close();
      if (this.picker.endpoints.length === 0) throw new Error("no addresses");
      if (this.addresses.join(",") !== before) log.info({ host: this.host, addresses: this.addresses }, "mesh peers resolved");
      this.resolved = true;
      ok = true;
    } catch (err) {
      // Known addresses keep serving while the resolver is away; without any a call cannot start.
      if (!this.resolved) throw new ConnectError(`cannot resolve ${this.host}: ${(err as Error).message}`, Code.Unavailable);
      const pass = failureLog.pass(`resolve ${this.host}`);
      if (pass) log.warn({ host: this.host, error: (err as Error).message, suppressed: pass.suppressed }, "mesh peers not resolved; keeping the last addresses");
    } finally {
      this.nextResolveAtMs = performance.now() + (ok ? this.resolveIntervalMs : Math.min(this.resolveIntervalMs, RESOLVE_RETRY_MS));
      this.resolving = undefined;
    }
  }
}

/**
 * A Transport that hands each call, unary or stream, to a transport for the replica picked
 * for it (made by `make` on first use, from the node options that reach that address).
 */
export function balancedTransport(peers: Peers, make: (nodeOptions: SecureClientSessionOptions) => Transport): Transport {
  const made = new WeakMap<Peer, Transport>();
  const pick = async (): Promise<Transport> => {
    await peers.pending();
    const peer = peers.pick();
    if (!peer) throw new ConnectError(`no address for ${peers.baseUrl}`, Code.Unavailable);
    let t = made.get(peer);
    if (!t) made.set(peer, (t = make(peers.nodeOptions(peer))));
    return t;
  };
  return {
    unary: async (...args) => (await pick()).unary(...args),
    stream: async (...args) => (await pick()).stream(...args),
  };
}
