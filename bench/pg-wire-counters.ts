// Loaded into the mesh under test (bench/mesh-process.ts, `--import`), and imported by the
// bench itself for the floor's clients (sale-floor.ts): counts, per pool
// (its application_name, which is the service's name), what the mesh's PostgreSQL clients
// exchange with the server, and serves the counts as JSON on 127.0.0.1 at
// BENCH_PG_COUNTERS_PORT. PostgreSQL itself keeps no per-database statement count without
// pg_stat_statements in shared_preload_libraries, which the bench does not require; the
// client side of the wire is the next best place, and it is exact:
//   roundTrips  ReadyForQuery messages answering a query. node-pg sends a query (one
//               simple Query, or Parse/Bind/Execute/Sync) and waits for ReadyForQuery
//               before the next, so each is one round trip.
//   statements  statements the server completed or refused (CommandComplete, EmptyQuery,
//               ErrorResponse): a simple query may carry several ("BEGIN; INSERT …").
//   commits     transactions the server committed: each COMMIT, and each round trip
//               that ran outside a transaction block (autocommit) without an error.
//   writeCommits those of them that wrote: an INSERT, UPDATE, DELETE or MERGE that
//               changed rows, or a SELECT whose text modifies or locks rows (a
//               data-modifying CTE, FOR UPDATE / FOR SHARE). These are the durable
//               commits, each waiting for its WAL flush; a read-only one costs no flush.
//   rollbacks   ROLLBACKs, failed COMMITs and failed autocommit round trips.
//   connects    sessions opened.
// The patch only counts; it changes nothing the client sends or receives.
import { createServer } from "node:http";
import { createRequire } from "node:module";

export interface WireCounts {
  roundTrips: number;
  statements: number;
  commits: number;
  writeCommits: number;
  rollbacks: number;
  connects: number;
}

const require = createRequire(import.meta.url);
const counts = new Map<string, WireCounts>();

function of(app: string): WireCounts {
  let c = counts.get(app);
  if (!c) counts.set(app, (c = { roundTrips: 0, statements: 0, commits: 0, writeCommits: 0, rollbacks: 0, connects: 0 }));
  return c;
}

interface CountedClient {
  _connecting?: boolean;
  _getActiveQuery(): { text?: string } | null | undefined;
  connectionParameters?: { application_name?: string };
  /** Transaction status after the last ReadyForQuery: I idle, T in a block, E failed block. */
  __benchStatus?: string;
  /** What the round trip in flight has done so far. */
  __benchTxControl?: boolean;
  __benchFailed?: boolean;
  /** The open transaction (or the round trip's implicit one) has written. */
  __benchWrote?: boolean;
}

/** A SELECT that writes: a data-modifying CTE, or one that locks rows. */
const WRITING_SELECT = /\b(insert|update|delete|merge)\b|\bfor\s+(no\s+key\s+update|key\s+share|share)\b/i;
const WRITES = new Set(["INSERT", "UPDATE", "DELETE", "MERGE", "COPY"]);

function committed(c: WireCounts, client: CountedClient): void {
  c.commits++;
  if (client.__benchWrote) c.writeCommits++;
  client.__benchWrote = false;
}

type Handler = (this: CountedClient, msg: { status?: string; text?: string }) => void;

function patch(proto: Record<string, Handler>, name: string, before: Handler): void {
  const original = proto[name];
  if (typeof original !== "function") throw new Error(`pg Client.${name} not found: the wire counters need updating for this pg version`);
  proto[name] = function (this: CountedClient, msg) {
    before.call(this, msg);
    return original.call(this, msg);
  };
}

const Client = require("pg").Client as { prototype: Record<string, Handler> };
const appOf = (c: CountedClient) => c.connectionParameters?.application_name || "(none)";

patch(Client.prototype, "_handleCommandComplete", function (msg) {
  const c = of(appOf(this));
  c.statements++;
  const tag = (msg.text ?? "").split(" ");
  const command = tag[0]!;
  if (WRITES.has(command) && Number(tag.at(-1)) > 0) this.__benchWrote = true;
  else if (command === "SELECT" && WRITING_SELECT.test(this._getActiveQuery()?.text ?? "")) this.__benchWrote = true;
  if (command === "COMMIT") {
    committed(c, this);
    this.__benchTxControl = true;
  } else if (command === "ROLLBACK") {
    c.rollbacks++;
    this.__benchWrote = false;
    this.__benchTxControl = true;
  } else if (command === "BEGIN" || command === "START") {
    this.__benchTxControl = true;
  }
});
patch(Client.prototype, "_handleEmptyQuery", function () {
  of(appOf(this)).statements++;
});
patch(Client.prototype, "_handleErrorMessage", function () {
  if (this._connecting) return;
  of(appOf(this)).statements++;
  this.__benchFailed = true;
});
patch(Client.prototype, "_handleReadyForQuery", function (msg) {
  const c = of(appOf(this));
  if (this._connecting) {
    c.connects++;
  } else if (this._getActiveQuery() || this.__benchFailed) {
    // (node-pg lets go of a query as soon as its error arrives, before ReadyForQuery.)
    c.roundTrips++;
    // A round trip that began and ended outside a transaction block, with no BEGIN,
    // COMMIT or ROLLBACK of its own, ran as one implicit transaction.
    if ((this.__benchStatus ?? "I") === "I" && msg.status === "I" && !this.__benchTxControl) {
      if (this.__benchFailed) c.rollbacks++;
      else committed(c, this);
    }
  }
  if (msg.status === "I") this.__benchWrote = false;
  this.__benchStatus = msg.status;
  this.__benchTxControl = false;
  this.__benchFailed = false;
});

/** The counts so far, per pool (a copy). In the bench's own process it counts the floor's clients. */
export function wireSnapshot(): Record<string, WireCounts> {
  return Object.fromEntries([...counts].map(([app, c]) => [app, { ...c }]));
}

const port = Number(process.env.BENCH_PG_COUNTERS_PORT);
if (port > 0) {
  const server = createServer((_req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(Object.fromEntries(counts)));
  });
  server.listen(port, "127.0.0.1");
  server.unref();
}
