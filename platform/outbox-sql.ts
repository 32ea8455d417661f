// The statements of an outbox, built from its table mapping. Pure: texts and parameters
// only, so every outbox runs the same SQL shape and each text is fixed (named prepared
// statements stay few).

/** Where an outbox keeps its rows: the table and what its columns are called. */
export interface OutboxTable {
  /** Schema-qualified name. */
  table: string;
  id: string;
  /** The id's SQL type (default uuid). */
  idType?: string;
  /** The order rows were written in: claim tie-break, and the order within a key. */
  seq: string;
  attempts: string;
  /** When the row is next due. */
  dueAt: string;
  /** Where a claim's lease ends. Omitted: the lease is kept in dueAt (a claimed row is due again when it runs out). */
  leaseUntil?: string;
  lastError: string;
  /** SQL predicate of a row still owed (neither delivered nor given up on). */
  waiting: string;
  /** SQL predicate of a row given up on (a partial index should cover it: it is counted on request). */
  givenUp: string;
  /** Creation time, for the age gauge. */
  created: string;
  /** Columns handed to the delivery (id and attempts are always there). */
  columns: readonly string[];
  /** W3C trace context stored with the row: delivery runs under it. */
  traceCarrier?: string;
  /** Set on a delivered row, and on a row given up on (besides lastError). */
  onDelivered: Columns;
  onDead: Columns;
  /**
   * Rows of one key go out one at a time, in seq order: a row is claimable only when no
   * earlier row of its key is still owed. `where` limits the rule to some rows.
   */
  orderPerKey?: { key: string; where?: string };
}

/** Column values: a parameter, NOW (the outbox's clock), or raw SQL. */
export type Columns = Readonly<Record<string, unknown>>;
export const NOW: unique symbol = Symbol("now");
export class RawSql {
  constructor(readonly text: string) {}
}
export const raw = (text: string) => new RawSql(text);

export interface Statement {
  text: string;
  values: unknown[];
}

/** The clock: null = the database's now(); else a parameter from the service's clock. */
type Clock = Date | null;

class Builder {
  readonly values: unknown[] = [];
  constructor(private readonly clock: Clock) {}
  param(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
  now(): string {
    return this.clock ? `${this.param(this.clock)}::timestamptz` : "now()";
  }
  value(v: unknown): string {
    if (v === NOW) return this.now();
    if (v instanceof RawSql) return v.text;
    return this.param(v);
  }
  set(cols: Columns): string {
    return Object.entries(cols)
      .map(([c, v]) => `${c} = ${this.value(v)}`)
      .join(", ");
  }
}

const later = (b: Builder, ms: number) => `${b.now()} + make_interval(secs => ${b.param(ms)}::double precision / 1000)`;

/**
 * Claims up to `limit` due rows in one statement (its own short transaction): counts the
 * attempt and takes a lease. Rows locked by another claimer are skipped; a claimer that
 * dies leaves a lease that runs out, and the row is claimed again.
 */
export function claimStatement(t: OutboxTable, clock: Clock, limit: number, leaseMs: number, where?: string): Statement {
  const b = new Builder(clock);
  const now = b.now();
  const conditions = [`(${t.waiting})`, `${t.dueAt} <= ${now}`];
  if (t.leaseUntil) conditions.push(`(${t.leaseUntil} IS NULL OR ${t.leaseUntil} <= ${now})`);
  if (where) conditions.push(`(${where})`);
  if (t.orderPerKey) {
    const { key, where: some } = t.orderPerKey;
    // Unqualified names inside EXISTS read the earlier row (e); outside it, the candidate (o).
    const scope = some ? `(${some})` : "true";
    conditions.push(
      `NOT (${scope} AND EXISTS (SELECT 1 FROM ${t.table} e WHERE ${scope} AND (${t.waiting}) AND e.${key} = o.${key} AND e.${t.seq} < o.${t.seq}))`,
    );
  }
  const lease = t.leaseUntil ?? t.dueAt;
  const returned = [...new Set([t.id, t.attempts, ...t.columns])].map((c) => `r.${c}`).join(", ");
  const text = `WITH due AS (
       SELECT o.${t.id} FROM ${t.table} o
        WHERE ${conditions.join("\n          AND ")}
        ORDER BY o.${t.dueAt}, o.${t.seq} LIMIT ${b.param(limit)}
        FOR UPDATE SKIP LOCKED)
     UPDATE ${t.table} r SET ${t.attempts} = r.${t.attempts} + 1, ${lease} = ${later(b, leaseMs)}
       FROM due WHERE r.${t.id} = due.${t.id}
     RETURNING ${returned}`;
  return { text, values: b.values };
}

export type Recording =
  | { outcome: "delivered"; set?: Columns }
  | { outcome: "dead"; error: string; set?: Columns }
  | { outcome: "retry"; error: string; delayMs: number; set?: Columns };

/**
 * Records what became of attempt `attempts` of row `id`. Only that attempt's claimer may:
 * each claim counts an attempt, so a row claimed again since (its lease ran out) no longer
 * matches, and a late answer changes nothing.
 */
export function recordStatement(t: OutboxTable, clock: Clock, id: unknown, attempts: number, r: Recording): Statement {
  const b = new Builder(clock);
  const where = `${t.id} = ${b.param(id)} AND ${t.attempts} = ${b.param(attempts)} AND (${t.waiting})`;
  // Whatever the outcome, the claim's lease ends with it.
  const unlease = t.leaseUntil ? { [t.leaseUntil]: null } : {};
  let cols: Columns;
  if (r.outcome === "delivered") cols = { ...t.onDelivered, ...unlease, ...r.set };
  else if (r.outcome === "dead") cols = { ...t.onDead, [t.lastError]: r.error, ...unlease, ...r.set };
  else cols = { [t.lastError]: r.error, ...unlease, ...r.set };
  let set = b.set(cols);
  if (r.outcome === "retry") set += `, ${t.dueAt} = ${later(b, r.delayMs)}`;
  return { text: `UPDATE ${t.table} SET ${set} WHERE ${where}`, values: b.values };
}

/**
 * Records plain deliveries (no columns of their own) of many rows in one statement, each
 * fenced by its attempt as in recordStatement; returns the ids it marked.
 */
export function deliveredManyStatement(t: OutboxTable, clock: Clock, rows: ReadonlyArray<{ id: unknown; attempts: number }>): Statement {
  const b = new Builder(clock);
  const ids = b.param(rows.map((r) => r.id));
  const attempts = b.param(rows.map((r) => r.attempts));
  const set = b.set({ ...t.onDelivered, ...(t.leaseUntil ? { [t.leaseUntil]: null } : {}) });
  const text = `UPDATE ${t.table} r SET ${set}
       FROM unnest(${ids}::${t.idType ?? "uuid"}[], ${attempts}::int[]) AS u(claimed_id, claimed_attempts)
      WHERE r.${t.id} = u.claimed_id AND r.${t.attempts} = u.claimed_attempts AND (${t.waiting})
      RETURNING r.${t.id} AS id`;
  return { text, values: b.values };
}
