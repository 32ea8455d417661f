// A TCP proxy in front of a server (Redis here) whose connections a test can cut, to take
// a server away from one process while the rest of the suite keeps it.
import net from "node:net";

/**
 * A TCP proxy in front of a server (Redis here), whose connections the test can cut: while
 * cut, open connections are reset and new ones closed at once, as when the server dies.
 */
export class TcpProxy {
  private readonly sockets = new Set<net.Socket>();
  private cutOff = false;
  private constructor(private readonly server: net.Server, readonly port: number) {}

  static async start(targetHost: string, targetPort: number): Promise<TcpProxy> {
    let self!: TcpProxy;
    const server = net.createServer((client) => {
      if (self.cutOff) {
        client.destroy();
        return;
      }
      const upstream = net.connect(targetPort, targetHost);
      for (const s of [client, upstream]) {
        self.sockets.add(s);
        s.on("close", () => self.sockets.delete(s));
        s.on("error", () => undefined);
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    self = new TcpProxy(server, (server.address() as net.AddressInfo).port);
    return self;
  }

  cut(): void {
    this.cutOff = true;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.cutOff = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A redis:// URL with its host and port swapped for the proxy's. */
export function viaProxy(redisUrl: string, proxy: TcpProxy): string {
  const u = new URL(redisUrl);
  u.hostname = "127.0.0.1";
  u.port = String(proxy.port);
  return u.toString();
}
