// The Prometheus endpoint of a process: plain HTTP/1.1, GET /metrics, on METRICS_PORT.
// Separate from the service ports (HTTP/2 only) so any scraper reaches it, and so a
// NetworkPolicy can open it to the monitoring namespace alone.
import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { collectDefaultMetrics } from "prom-client";
import { log } from "./logger.js";
import { registry } from "./metrics.js";

export interface MetricsServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

let defaultsOn = false;

/** Listens on `port` (0 = any free port) of `host`; fails the start when the port is taken. */
export async function startMetricsServer(host: string, port: number): Promise<MetricsServer> {
  if (!defaultsOn) {
    // CPU, memory, event-loop delay, GC and handles of the Node process.
    collectDefaultMetrics({ register: registry });
    defaultsOn = true;
  }
  // Scrapes arriving together share one collection.
  let pending: Promise<string> | null = null;
  const collect = () => {
    pending ??= registry.metrics().finally(() => (pending = null));
    return pending;
  };
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found; metrics are at /metrics\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("method not allowed\n");
      return;
    }
    collect().then(
      (text) => res.writeHead(200, { "content-type": registry.contentType }).end(req.method === "HEAD" ? undefined : text),
      (err) => {
        log.warn({ err }, "metrics collection failed");
        res.writeHead(500, { "content-type": "text/plain" }).end("metrics collection failed\n");
      },
    );
  });
  // Scrapers are few and fast; an idle keep-alive connection is not held for long.
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  const sockets = new Set<Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(err.code === "EADDRINUSE" ? new Error(`METRICS_PORT ${port} is in use on ${host}; choose another (0 = any free port, -1 = off)`) : err));
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  log.info({ port: bound }, "metrics listening");
  return {
    port: bound,
    url: `http://${host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host}:${bound}/metrics`,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
