// One public port for every protocol. Without TLS, the first bytes of a connection tell
// HTTP/2 (gRPC, Connect over h2) from HTTP/1.1 (Connect JSON from curl and browsers,
// gRPC-Web); Node's plaintext HTTP/2 server refuses HTTP/1.1 on its own. With a
// certificate, TLS + ALPN choose, and both versions are served by one secure server.
import { readFileSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type { NodeHandler } from "./edge.js";

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0");
/** Close a connection that sends nothing for this long (slowloris bound). */
const FIRST_BYTES_TIMEOUT_MS = 10_000;

export interface PublicListener {
  server: net.Server;
  connections: Set<net.Socket>;
  sessions: Set<http2.ServerHttp2Session>;
  /** Ends HTTP/1.1 keep-alive connections that have no request in flight. */
  closeIdle(): void;
}

export function createPublicListener(handler: NodeHandler, tls?: { certFile: string; keyFile: string }): PublicListener {
  const connections = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  const track = (s: http2.Http2Server | http2.Http2SecureServer) =>
    s.on("session", (session) => {
      sessions.add(session);
      session.on("close", () => sessions.delete(session));
    });

  if (tls) {
    const secure = http2.createSecureServer(
      { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile), allowHTTP1: true, ALPNProtocols: ["h2", "http/1.1"] },
      handler as never,
    );
    track(secure);
    secure.on("connection", (c: net.Socket) => {
      connections.add(c);
      c.on("close", () => connections.delete(c));
    });
    return { server: secure, connections, sessions, closeIdle: () => undefined };
  }

  const h2 = http2.createServer({}, handler as never);
  track(h2);
  const h1 = http.createServer({ requestTimeout: 60_000, headersTimeout: 15_000, keepAliveTimeout: 5_000 }, handler as never);
  // h1 never listens itself (connections are handed to it below), and Node tracks an HTTP
  // server's connections only from its 'listening' event: without it, closeIdle (and the
  // request and headers timeouts) would do nothing.
  h1.emit("listening");
  // noDelay: small RPC frames must not wait for Nagle (40 ms per call otherwise).
  const server = net.createServer({ noDelay: true, pauseOnConnect: true }, (socket) => {
    connections.add(socket);
    socket.on("close", () => connections.delete(socket));
    socket.setTimeout(FIRST_BYTES_TIMEOUT_MS, () => socket.destroy());
    // Read the first bytes in paused mode and put them back: the HTTP/2 session then
    // takes over the socket's native handle with the preface still in its buffer (no JS
    // stream in between, which would cost a copy per frame).
    socket.once("readable", () => {
      socket.setTimeout(0);
      const chunk = socket.read() as Buffer | null;
      if (!chunk) return void socket.destroy();
      socket.unshift(chunk);
      const isH2 = chunk.subarray(0, H2_PREFACE.length).equals(H2_PREFACE.subarray(0, Math.min(chunk.length, H2_PREFACE.length)));
      (isH2 ? h2 : h1).emit("connection", socket);
    });
    socket.resume();
    socket.pause();
  });
  return { server, connections, sessions, closeIdle: () => h1.closeIdleConnections() };
}
