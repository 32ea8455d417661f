// Where each service's PostgreSQL is, from the environment. Each service owns one schema
// and never joins across, so each may live in a database (or on a server) of its own:
// `<NAME>_DATABASE_URL` overrides `DATABASE_URL` for that service. A pooled URL may go
// through PgBouncer in transaction mode; what needs a session of its own (the migrations'
// advisory lock, LISTEN) uses the direct URL, `<NAME>_DATABASE_DIRECT_URL` /
// `DATABASE_DIRECT_URL`, which defaults to the pooled one. Pure: no I/O.

/** The PostgreSQL of one service. */
export interface ServiceDatabase {
  /** Where the service's pool and health probe connect (may be PgBouncer in transaction mode). */
  url: string;
  /** A session-mode URL straight to PostgreSQL, for the migrations' advisory lock and LISTEN. */
  directUrl: string;
  /**
   * `url` differs from `directUrl`: a pooler hands each transaction whichever server
   * session is free, so nothing sent on `url` may rely on a session (startup parameters,
   * SET, named prepared statements, session advisory locks, LISTEN).
   */
  pooled: boolean;
}

/** A service's database as it runs: configured, or the embedded one (one PGlite session, in this process). */
export interface ResolvedDatabase extends ServiceDatabase {
  embedded: boolean;
}

type Env = Record<string, string | undefined>;

const PROTOCOLS = ["postgres:", "postgresql:"];
/** `<NAME>_DATABASE_URL` and `<NAME>_DATABASE_DIRECT_URL`; `DATABASE_URL` itself has no prefix. */
const PER_SERVICE = /^([A-Z0-9_]+)_DATABASE(_DIRECT)?_URL$/;

export interface DatabaseSettings {
  /** DATABASE_URL when it is valid. */
  databaseUrl: string | undefined;
  /** DATABASE_DIRECT_URL, else DATABASE_URL. */
  databaseDirectUrl: string | undefined;
  /** Each known service's database; undefined: none configured, so the embedded one. */
  databases: Record<string, ServiceDatabase | undefined>;
}

/**
 * Reads DATABASE_URL, DATABASE_DIRECT_URL and their per-service overrides.
 * `running` are the services this process runs: each of them must end up with a URL once
 * any is configured, and in production. Problems are pushed, one message per mistake.
 */
export function serviceDatabases(
  env: Env,
  names: readonly string[],
  running: readonly string[],
  production: boolean,
  problems: string[],
): DatabaseSettings {
  const bad = new Set<string>();
  const url = (name: string): string | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === "") return undefined;
    let protocol: string;
    try {
      protocol = new URL(raw).protocol;
    } catch {
      problems.push(`${name} is not a valid URL`);
      bad.add(name);
      return undefined;
    }
    if (!PROTOCOLS.includes(protocol)) {
      problems.push(`${name} must use ${PROTOCOLS.join(" or ")} (got ${protocol})`);
      bad.add(name);
      return undefined;
    }
    return raw;
  };

  const upper = names.map((n) => n.toUpperCase());
  for (const key of Object.keys(env).sort()) {
    const m = PER_SERVICE.exec(key);
    if (!m || env[key] === undefined || env[key] === "") continue;
    if (!upper.includes(m[1]!)) problems.push(`${key} names no service (known: ${upper.join(", ")})`);
  }

  const shared = url("DATABASE_URL");
  const sharedDirect = url("DATABASE_DIRECT_URL");
  if (sharedDirect && !shared && !bad.has("DATABASE_URL")) problems.push("DATABASE_DIRECT_URL is set without DATABASE_URL (the pooled URL it bypasses)");

  const out: Record<string, ServiceDatabase | undefined> = {};
  const missing: string[] = [];
  let anyConfigured = !!shared || bad.has("DATABASE_URL");
  for (const name of names) {
    const prefix = name.toUpperCase();
    const own = url(`${prefix}_DATABASE_URL`);
    const ownDirect = url(`${prefix}_DATABASE_DIRECT_URL`);
    if (own || bad.has(`${prefix}_DATABASE_URL`)) anyConfigured = true;
    const pooledUrl = own ?? shared;
    // A service on a database of its own never falls back to the shared direct URL: that
    // one reaches another database.
    const directUrl = ownDirect ?? (own ? own : (sharedDirect ?? shared));
    if (ownDirect && !pooledUrl) problems.push(`${prefix}_DATABASE_DIRECT_URL is set without ${prefix}_DATABASE_URL or DATABASE_URL (the pooled URL it bypasses)`);
    if (!pooledUrl || !directUrl) {
      // A URL that failed validation is already reported.
      if (running.includes(name) && !bad.has(`${prefix}_DATABASE_URL`) && !bad.has("DATABASE_URL")) missing.push(name);
      out[name] = undefined;
      continue;
    }
    out[name] = { url: pooledUrl, directUrl, pooled: pooledUrl !== directUrl };
  }
  if (missing.length > 0 && (anyConfigured || production)) {
    const vars = missing.map((n) => `${n.toUpperCase()}_DATABASE_URL`).join(", ");
    problems.push(
      production && !anyConfigured
        ? `DATABASE_URL is required when NODE_ENV=production (or ${vars})`
        : `${missing.join(", ")} ${missing.length === 1 ? "has" : "have"} no database: set DATABASE_URL or ${vars} (the embedded database serves every service or none)`,
    );
  }
  return { databaseUrl: shared, databaseDirectUrl: shared ? (sharedDirect ?? shared) : undefined, databases: out };
}
