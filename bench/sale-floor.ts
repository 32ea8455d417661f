// The same-work floor for authorize-settle: everything a sale must durably record, on the
// tables the services use (migrated by the services' own migrations), straight over `pg`
// in as few round trips as the SQL allows — one statement per step, each its own
// transaction:
//   authorize  consume the QR, find the driver's line (and its agency parent), lock them
//              parent first, check and reserve the amount on each, write the HOLD entry
//              with its postings, the hold, and the transaction AUTHORIZED;
//   settle     capture the hold once (PENDING → CAPTURED), move the lines (held → used,
//              the rest released), write the CAPTURE entry with its postings, the loan on
//              the bank's default product, the borrower's notice in the loan outbox, and
//              the transaction SETTLED.
// What it leaves out is what only our design needs: idempotency-key rows (the QR, the
// hold's and the loan's unique transaction_id already make each step happen once), the
// intermediate states a crash-safe saga across services records, and the Hold request
// kept for replay.
//
// The lines are named to the locking statements as arrays computed once (InitPlans), not
// joined: under READ COMMITTED a row another sale changed after this statement's snapshot
// is re-checked against its newest version, and that re-check of a join with a CTE
// dropped rows — the parent line, under the hot load — where a constant array cannot.
//
// It runs in a database of its own, not the mesh's: the mesh's relays and sweepers never
// see its rows (its notices stay undelivered, as a notice is recorded, not sent, by a
// sale), and PostgreSQL's per-database statistics count its commits apart from the
// mesh's. After each run CreditService's own ledger check (verify-ledger.ts, the code
// behind VerifyLedger) runs on its lines there, and must be clean.
import { randomUUID } from "node:crypto";
import { createPool, type Pool } from "../platform/db.js";
import { wireSnapshot, type WireCounts } from "./pg-wire-counters.js";
import { migrate } from "../platform/migrate.js";
import { verifyLedger } from "../services/credit/verify-ledger.js";
import { freshDatabase } from "../test/helpers/system.js";

/** The floor's sessions, by application_name. */
export const APPLICATION = "bench-floor";

/**
 * At most this many sessions for the SQL baselines: the server's max_connections (100 by
 * default) is shared with the mesh's pools, and on a shared machine with other databases.
 * On two cores 32 sessions keep the server as busy as 64 would.
 */
export const SQL_MAX_CLIENTS = Number(process.env.BENCH_SQL_MAX_CLIENTS ?? 32);

/** A line is this large so no run comes near it (minor units). */
const LIMIT = 1_000_000_000_000n;
const LIMIT_SOURCE_OVERRIDE = 3;
const ENTRY_LIMIT_CHANGE = 1;
const ACCOUNT_LIMIT = 1;
const ACCOUNT_AVAILABLE = 2;
/** The fuel_type column holds the proto enum's number (PETROL). */
const PETROL = 1;

export interface FloorSale {
  authAmountMinor: bigint;
  settleAmountMinor: bigint;
  priceMinorPerLitre: bigint;
  settleVolumeMl: bigint;
  holdTtlMs: number;
}

export interface FloorWorld {
  hot: boolean;
  bankId: string;
  stationId: string;
  merchantId: string;
  /** One driver per worker. */
  drivers: string[];
  /** Every line of this world, for the ledger check. */
  lineIds: string[];
}

export interface FloorResult {
  count: number;
  errors: number;
  tps: number;
  p50_ms: number;
  p99_ms: number;
  /** On the wire (pg-wire-counters.ts), in the measured window. */
  wire: WireCounts;
  /** This process's CPU per sale, ms. */
  clientCpuMs: number;
}

const AUTHORIZE = `
WITH q AS (UPDATE transaction.qr_codes SET status = 'USED', use_time = $6, transaction_id = $2
            WHERE qr_code_id = $1 AND status = 'ACTIVE' AND expire_time > $6 RETURNING driver_id),
     d AS (SELECT l.line_id, l.parent_id, l.parent_agency_id, l.bank_id, l.currency, q.driver_id
             FROM q JOIN credit.lines l ON l.owner_kind = 'DRIVER' AND l.owner_id = q.driver_id AND l.status <> 'CLOSED'),
     lk AS (SELECT l.line_id, l.status, l.limit_minor - l.held - l.used AS available
              FROM credit.lines l WHERE l.line_id = ANY (ARRAY(SELECT line_id FROM d UNION ALL SELECT parent_id FROM d WHERE parent_id IS NOT NULL))
             ORDER BY (l.parent_id IS NULL) DESC, l.line_id FOR UPDATE),
     ok AS (SELECT count(*) > 0 AND count(*) = (SELECT count(*) + count(parent_id) FROM d)
                   AND coalesce(bool_and(status = 'ACTIVE' AND available >= $5), false) AS pass FROM lk),
     up AS (UPDATE credit.lines l SET held = l.held + $5, version = l.version + 1, update_time = $6
             WHERE (SELECT pass FROM ok) AND l.line_id = ANY (ARRAY(SELECT line_id FROM lk)) RETURNING l.line_id),
     e AS (INSERT INTO credit.journal_entries (entry_id, kind, currency, hold_id, transaction_id, description, actor_id, create_time)
           SELECT $4, 2, d.currency, $3, $2, 'hold', 'bench-floor', $6 FROM d, ok WHERE ok.pass RETURNING 1),
     p AS (INSERT INTO credit.postings (entry_id, seq, line_id, account, amount)
           SELECT $4, (row_number() OVER () - 1)::int2, up.line_id, a.account, a.amount
             FROM up CROSS JOIN (VALUES (2::int2, -$5::int8), (3::int2, $5::int8)) AS a(account, amount) RETURNING 1),
     h AS (INSERT INTO credit.holds (hold_id, line_id, parent_line_id, driver_id, transaction_id, request_hash, status, currency,
                                     amount, requested_amount, station_id, merchant_id, fuel_type, expire_time, create_time, hold_entry_id)
           SELECT $3, d.line_id, d.parent_id, d.driver_id, $2, '', 'PENDING', d.currency, $5, $5, $7, $8, $9, $11, $6, $4
             FROM d, ok WHERE ok.pass RETURNING 1),
     t AS (INSERT INTO transaction.transactions (transaction_id, state, driver_id, agency_id, bank_id, credit_line_id, station_id,
                                                 merchant_id, qr_code_id, fuel_type, currency, requested_amount, approved_amount,
                                                 decline_reason, hold_id, hold_expire_time, hold_request, authorized_price,
                                                 approved_volume_ml, create_time, authorize_time, update_time, recover_after)
           SELECT $2, CASE WHEN ok.pass THEN 'AUTHORIZED' ELSE 'DECLINED' END, q.driver_id, d.parent_agency_id, d.bank_id, d.line_id,
                  $7, $8, $1, $9, 'NGN', $5, CASE WHEN ok.pass THEN $5::int8 ELSE 0 END, CASE WHEN ok.pass THEN 0 ELSE 1 END,
                  CASE WHEN ok.pass THEN $3::uuid END, CASE WHEN ok.pass THEN $11::timestamptz END, '\\x'::bytea, $10,
                  CASE WHEN ok.pass THEN $12::int8 ELSE 0 END, $6, CASE WHEN ok.pass THEN $6::timestamptz END, $6, $11
             FROM q LEFT JOIN d ON true, ok RETURNING state)
SELECT t.state, (SELECT count(*) FROM e) + (SELECT count(*) FROM p) + (SELECT count(*) FROM h) AS written FROM t`;

const SETTLE = `
WITH tx AS (SELECT transaction_id, hold_id, driver_id, agency_id, bank_id, credit_line_id, currency
              FROM transaction.transactions WHERE transaction_id = $1 AND state = 'AUTHORIZED' FOR UPDATE),
     h AS (UPDATE credit.holds SET status = 'CAPTURED', captured_amount = $2, released_amount = amount - $2,
                                   resolve_time = $5, resolve_entry_id = $3
            WHERE hold_id = (SELECT hold_id FROM tx) AND status = 'PENDING' AND expire_time > $5 AND amount >= $2
           RETURNING hold_id, line_id, parent_line_id, amount, currency, transaction_id),
     lk AS (SELECT line_id FROM credit.lines
             WHERE line_id = ANY (ARRAY(SELECT line_id FROM h UNION ALL SELECT parent_line_id FROM h WHERE parent_line_id IS NOT NULL))
             ORDER BY (parent_id IS NULL) DESC, line_id FOR UPDATE),
     up AS (UPDATE credit.lines l SET held = l.held - (SELECT amount FROM h), used = l.used + $2, version = l.version + 1, update_time = $5
             WHERE l.line_id = ANY (ARRAY(SELECT line_id FROM lk)) RETURNING l.line_id, (SELECT amount FROM h) AS amount),
     e AS (INSERT INTO credit.journal_entries (entry_id, kind, currency, hold_id, transaction_id, description, actor_id, create_time)
           SELECT $3, 3, h.currency, h.hold_id, h.transaction_id, 'capture', 'bench-floor', $5 FROM h RETURNING 1),
     p AS (INSERT INTO credit.postings (entry_id, seq, line_id, account, amount)
           SELECT $3, (row_number() OVER () - 1)::int2, up.line_id, a.account, a.amount
             FROM up CROSS JOIN LATERAL (VALUES (3::int2, -up.amount), (4::int2, $2::int8), (2::int2, up.amount - $2)) AS a(account, amount)
            WHERE a.amount <> 0 RETURNING 1),
     pr AS (SELECT p.* FROM loan.products p, tx
             WHERE p.bank_id = tx.bank_id AND p.currency = tx.currency AND p.is_default AND p.status = 'ACTIVE'),
     ln AS (INSERT INTO loan.loans (loan_id, transaction_id, settlement_hash, driver_id, agency_id, bank_id, credit_line_id, product_id,
                                    currency, principal, fee, daily_interest_bps, term_days, default_after_days, reminder_days_before_due,
                                    disburse_time, due_time, status, create_time, update_time)
            SELECT $4, tx.transaction_id, '', tx.driver_id, tx.agency_id, tx.bank_id, tx.credit_line_id, pr.product_id, tx.currency,
                   $2, pr.fee_fixed + ($2::int8 * pr.fee_bps + 5000) / 10000, pr.daily_interest_bps, pr.term_days, pr.default_after_days,
                   pr.reminder_days_before_due, $5, $5::timestamptz + pr.term_days * interval '1 day', 'ACTIVE', $5, $5
              FROM tx, pr, h RETURNING loan_id, driver_id, principal, fee, due_time, currency),
     o AS (INSERT INTO loan.outbox (outbox_id, kind, loan_id, payload)
           SELECT $8, 'NOTIFY', ln.loan_id, jsonb_build_object('driverId', ln.driver_id, 'kind', 'LOAN_OPENED', 'title', 'Fuel bought on credit',
                    'body', format('Your fuel purchase of %s %s is now a loan. Fee %s %s; due on %s UTC. Outstanding now: %s %s.',
                                   ln.currency, ln.principal, ln.currency, ln.fee, to_char(ln.due_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'),
                                   ln.currency, ln.principal + ln.fee))
             FROM ln RETURNING 1),
     t AS (UPDATE transaction.transactions tt SET state = 'SETTLED', settled_amount = $2, settled_volume_ml = $6, settled_price = $7,
                                               released_amount = h.amount - $2, loan_id = ln.loan_id, settle_time = $5, update_time = $5,
                                               recover_after = NULL
             FROM h, ln WHERE tt.transaction_id = $1 RETURNING 1)
SELECT (SELECT count(*) FROM t) AS settled, (SELECT count(*) FROM e) + (SELECT count(*) FROM p) + (SELECT count(*) FROM o) AS written`;

export interface FloorDb {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** A fresh database with the credit, transaction and loan schemas, migrated as the services migrate them. */
export async function floorDatabase(): Promise<FloorDb> {
  const db = await freshDatabase();
  if (!db) throw new Error("the floor needs DATABASE_URL");
  for (const service of ["credit", "transaction", "loan"]) await migrate(db.url, service);
  return db;
}

const TOO_MANY_CONNECTIONS = "53300";

/**
 * Opens `n` sessions of `pool` and returns them to it, waiting (up to a minute) while the
 * server has no connection slot free: on a server others share, their tests come and go.
 */
export async function openSessions(pool: { connect(): Promise<{ release(): void }> }, n: number): Promise<void> {
  const until = Date.now() + 60_000;
  const open: Array<{ release(): void }> = [];
  try {
    while (open.length < n) {
      try {
        open.push(await pool.connect());
      } catch (err) {
        if ((err as { code?: string }).code !== TOO_MANY_CONNECTIONS || Date.now() > until) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  } finally {
    for (const c of open) c.release();
  }
}

async function withPool<T>(url: string, max: number, fn: (pool: Pool) => Promise<T>): Promise<T> {
  // platform/db's pool: int8 read as bigint, which the ledger check compares.
  const pool = createPool({ connectionString: url, max, application: APPLICATION });
  try {
    await openSessions(pool, max);
    return await fn(pool);
  } finally {
    await pool.end();
  }
}

/**
 * A bank with a default loan product, a station, and one driver per worker with an open
 * line (cold), or under one agency line (hot); each line opened with its LIMIT_CHANGE
 * entry, as CreateCreditLine opens one. Sub-lines mirror the parent's limit.
 */
export async function seedFloor(url: string, workers: number, hot: boolean): Promise<FloorWorld> {
  const bankId = randomUUID();
  const drivers = Array.from({ length: workers }, () => randomUUID());
  const now = new Date();
  const lines: Array<{ id: string; kind: "AGENCY" | "DRIVER"; owner: string; parent: string | null; agency: string | null }> = [];
  const agencyId = randomUUID();
  const root = randomUUID();
  if (hot) lines.push({ id: root, kind: "AGENCY", owner: agencyId, parent: null, agency: null });
  for (const d of drivers) lines.push({ id: randomUUID(), kind: "DRIVER", owner: d, parent: hot ? root : null, agency: hot ? agencyId : null });
  await withPool(url, 1, async (pool) => {
    await pool.query(
      `INSERT INTO loan.products (product_id, bank_id, name, currency, fee_fixed, fee_bps, daily_interest_bps, term_days,
                                  default_after_days, reminder_days_before_due, is_default, status, create_time, update_time)
       VALUES ($1, $2, 'Floor fuel 30', 'NGN', 0, 100, 10, 30, 90, 3, true, 'ACTIVE', $3, $3)`,
      [randomUUID(), bankId, now],
    );
    const entries = lines.map(() => randomUUID());
    await pool.query(
      `WITH l AS (INSERT INTO credit.lines (line_id, bank_id, owner_kind, owner_id, parent_id, parent_agency_id, currency, status,
                                            limit_minor, limit_source, override_reason, create_time, update_time)
                  SELECT id, $2, kind, owner, parent, agency, 'NGN', 'ACTIVE', $3, $4, 'bench floor', $5, $5
                    FROM unnest($1::uuid[], $6::text[], $7::uuid[], $8::uuid[], $9::uuid[]) AS t(id, kind, owner, parent, agency) RETURNING 1),
            e AS (INSERT INTO credit.journal_entries (entry_id, kind, currency, description, actor_id, create_time)
                  SELECT id, $11, 'NGN', 'opening limit', 'bench-floor', $5 FROM unnest($10::uuid[]) AS t(id) RETURNING 1)
       INSERT INTO credit.postings (entry_id, seq, line_id, account, amount)
       SELECT e.id, s.seq, e.line, s.account, s.amount
         FROM unnest($10::uuid[], $1::uuid[]) AS e(id, line) CROSS JOIN (VALUES (0::int2, $12::int2, -$3::int8), (1::int2, $13::int2, $3::int8)) AS s(seq, account, amount)
        WHERE (SELECT count(*) FROM l) > 0 AND (SELECT count(*) FROM e) > 0`,
      [lines.map((l) => l.id), bankId, LIMIT, LIMIT_SOURCE_OVERRIDE, now, lines.map((l) => l.kind), lines.map((l) => l.owner),
        lines.map((l) => l.parent), lines.map((l) => l.agency), entries, ENTRY_LIMIT_CHANGE, ACCOUNT_LIMIT, ACCOUNT_AVAILABLE],
    );
  });
  return { hot, bankId, stationId: randomUUID(), merchantId: randomUUID(), drivers, lineIds: lines.map((l) => l.id) };
}

/** Fresh QR codes, as a driver's app would have had issued: `perWorker` for each worker's driver. */
export async function floorQrs(url: string, world: FloorWorld, workers: number, perWorker: number): Promise<string[][]> {
  const out = Array.from({ length: workers }, () => Array.from({ length: perWorker }, () => randomUUID()));
  const expire = new Date(Date.now() + 3_600_000);
  await withPool(url, 1, async (pool) => {
    await pool.query(
      `INSERT INTO transaction.qr_codes (qr_code_id, driver_id, payload, fuel_type, expire_time, create_time)
       SELECT id, driver, 'bench-floor', $3, $4, now() FROM unnest($1::uuid[], $2::uuid[]) AS t(id, driver)`,
      [out.flat(), out.flatMap((ids, w) => ids.map(() => world.drivers[w % world.drivers.length]!)), PETROL, expire],
    );
  });
  return out;
}

/**
 * Sales over the floor's two statements for `durationMs` from `qrs.length` workers.
 * `around` is told when the measured window starts and ends, while the workers' sessions
 * are all open.
 */
export async function runFloor(url: string, world: FloorWorld, qrs: string[][], durationMs: number, sale: FloorSale,
  around: { started(): Promise<void>; ended(): Promise<void> } = { started: async () => undefined, ended: async () => undefined }): Promise<FloorResult> {
  const concurrency = qrs.length;
  const approvedVolumeMl = (sale.authAmountMinor * 1000n) / sale.priceMinorPerLitre;
  const lines = world.hot ? 2 : 1;
  const connections = Math.min(concurrency, SQL_MAX_CLIENTS);
  return await withPool(url, connections, async (pool) => {
    // Every session is open before the clock starts (withPool); each prepares the two
    // statements on its first sale.
    await around.started();
    const wire0 = wireSnapshot()[APPLICATION];
    const latencies: number[] = [];
    let errors = 0;
    let firstError = "";
    const end = performance.now() + durationMs;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    await Promise.all(qrs.map(async (mine) => {
      for (const qr of mine) {
        if (performance.now() >= end) break;
        const t = performance.now();
        // A session per sale from the pool, as the services' handlers take one.
        const c = await pool.connect();
        const transactionId = randomUUID();
        const now = new Date();
        try {
          const a = await c.query({
            name: "floor_authorize", text: AUTHORIZE,
            values: [qr, transactionId, randomUUID(), randomUUID(), sale.authAmountMinor, now, world.stationId, world.merchantId, PETROL,
              sale.priceMinorPerLitre, new Date(now.getTime() + sale.holdTtlMs), approvedVolumeMl],
          });
          if (a.rows[0]?.state !== "AUTHORIZED") throw new Error(`authorize: ${a.rows[0]?.state ?? "QR not usable"}`);
          // The entry, its postings (two per line) and the hold.
          if (Number(a.rows[0].written) !== 2 + 2 * lines) throw new Error(`authorize wrote ${a.rows[0].written} rows`);
          const s = await c.query({
            name: "floor_settle", text: SETTLE,
            values: [transactionId, sale.settleAmountMinor, randomUUID(), randomUUID(), new Date(), sale.settleVolumeMl, sale.priceMinorPerLitre, randomUUID()],
          });
          if (Number(s.rows[0]?.settled) !== 1) throw new Error("settle: the hold was not captured");
          // The entry, its postings (three per line) and the notice.
          if (Number(s.rows[0].written) !== 2 + 3 * lines) throw new Error(`settle wrote ${s.rows[0].written} rows`);
          latencies.push(performance.now() - t);
        } catch (err) {
          if (errors++ === 0) firstError = (err as Error).message.slice(0, 200);
        } finally {
          c.release();
        }
      }
    }));
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const wire1 = wireSnapshot()[APPLICATION]!;
    await around.ended();
    if (firstError) console.error(`floor: first error (of ${errors}): ${firstError}`);
    latencies.sort((a, b) => a - b);
    const q = (p: number) => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0) * 100) / 100;
    return {
      count: latencies.length, errors, tps: Math.round((latencies.length / elapsed) * 10) / 10, p50_ms: q(0.5), p99_ms: q(0.99),
      wire: Object.fromEntries(Object.entries(wire1).map(([k, v]) => [k, v - (wire0?.[k as keyof WireCounts] ?? 0)])) as unknown as WireCounts,
      clientCpuMs: latencies.length > 0 ? (cpu.user + cpu.system) / 1000 / latencies.length : 0,
    };
  });
}

/** CreditService's ledger check on the floor's lines: the number of findings (0 = clean). */
export async function floorViolations(url: string, world: FloorWorld): Promise<number> {
  return await withPool(url, 1, async (pool) => {
    const c = await pool.connect();
    try {
      await c.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      const r = await verifyLedger(c, world.lineIds, null);
      await c.query("COMMIT");
      const n = r.differences.length + r.unbalancedEntryIds.length + r.inconsistentHoldIds.length;
      return r.consistent ? n : Math.max(1, n);
    } finally {
      c.release();
    }
  });
}
