// The Postgres wire protocol in front of PGlite, for the embedded default. PGlite is one
// session, so connections must take turns — but not message by message: a client's
// extended-query batch (Parse/Bind/Execute … Sync) and, above all, its whole transaction
// must run without another connection's messages in between. pglite-socket interleaves
// at message level and gave other connections wrong results while a transaction was
// open, so we serialise at batch level and keep the session for a connection from BEGIN
// until its transaction ends.
import net from "node:net";
import type { PGlite } from "@electric-sql/pglite";

const SSL_REQUEST = 80877103;
const CANCEL_REQUEST = 80877102;
/** Bound on bytes a connection may buffer before a batch completes. */
const MAX_PENDING_BYTES = 64 * 1024 * 1024;

/** One session, handed to one connection at a time (FIFO). */
class SessionLock {
  private owner: number | null = null;
  private readonly waiters: Array<{ id: number; grant: () => void }> = [];

  async acquire(id: number): Promise<void> {
    if (this.owner === id) return;
    if (this.owner === null) {
      this.owner = id;
      return;
    }
    await new Promise<void>((grant) => this.waiters.push({ id, grant }));
  }

  release(id: number): void {
    if (this.owner !== id) return;
    const next = this.waiters.shift();
    this.owner = next ? next.id : null;
    next?.grant();
  }

  forget(id: number): void {
    const i = this.waiters.findIndex((w) => w.id === id);
    if (i >= 0) this.waiters.splice(i, 1);
  }
}

export interface WireServer {
  port: number;
  close(): Promise<void>;
}

export async function servePglite(db: PGlite, port: number, host = "127.0.0.1"): Promise<WireServer> {
  const lock = new SessionLock();
  const sockets = new Set<net.Socket>();
  let nextId = 1;

  const server = net.createServer((socket) => {
    const id = nextId++;
    sockets.add(socket);
    socket.setNoDelay(true);
    let buffer: Buffer = Buffer.alloc(0);
    let started = false;
    let chain: Promise<void> = Promise.resolve();
    let batch: Buffer[] = [];

    const run = (bytes: Buffer, endsBatch: boolean, holdSession = false) => {
      batch.push(bytes);
      if (!endsBatch) return;
      const message = Buffer.concat(batch);
      batch = [];
      chain = chain.then(async () => {
        await lock.acquire(id);
        try {
          const out = await db.execProtocolRaw(new Uint8Array(message));
          if (out.length > 0 && !socket.destroyed) socket.write(out);
        } finally {
          // Keep the session across a transaction; hand it over otherwise.
          if (!holdSession && !db.isInTransaction()) lock.release(id);
        }
      }).catch(() => {
        socket.destroy();
      });
    };

    socket.on("data", (chunk: Buffer) => {
      buffer = buffer.length ? Buffer.concat([buffer, chunk]) : Buffer.from(chunk);
      if (buffer.length > MAX_PENDING_BYTES) return socket.destroy();
      for (;;) {
        if (!started) {
          if (buffer.length < 8) return;
          const len = buffer.readInt32BE(0);
          if (buffer.length < len) return;
          const code = buffer.readInt32BE(4);
          const msg = buffer.subarray(0, len);
          buffer = buffer.subarray(len);
          if (code === SSL_REQUEST) {
            socket.write("N");
            continue;
          }
          if (code === CANCEL_REQUEST) {
            socket.end();
            return;
          }
          started = true;
          run(Buffer.from(msg), true); // startup message: PGlite answers AuthenticationOk…ReadyForQuery
          continue;
        }
        if (buffer.length < 5) return;
        const type = String.fromCharCode(buffer[0]!);
        const len = buffer.readInt32BE(1) + 1;
        if (buffer.length < len) return;
        const msg = Buffer.from(buffer.subarray(0, len));
        buffer = buffer.subarray(len);
        if (type === "X") {
          socket.end();
          return;
        }
        // A simple Query or a Sync closes a batch. Flush asks for output now, but the
        // extended query is still open until its Sync, so the session stays ours.
        run(msg, type === "Q" || type === "S" || type === "H", type === "H");
      }
    });

    const cleanup = () => {
      if (!sockets.delete(socket)) return;
      lock.forget(id);
      // A connection that dies inside its transaction must not leave the session stuck.
      chain = chain.then(async () => {
        await lock.acquire(id);
        try {
          if (db.isInTransaction()) await db.exec("ROLLBACK");
        } finally {
          lock.release(id);
        }
      }).catch(() => undefined);
    };
    socket.on("close", cleanup);
    socket.on("error", () => socket.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as net.AddressInfo).port;
  return {
    port: actual,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
