// Helpers shared by the LoanService handlers: money and time input, paging, the Postgres
// idempotency guard around money transactions, and settings.
import { envInt } from "../../platform/config.js";
import { type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Code, type HandlerContext } from "@connectrpc/connect";
import type { Money } from "../../gen/fuel/common/v1/common_pb.js";
import { type Tx } from "../../platform/db.js";
import { invalidArgument, rpcError } from "../../platform/errors.js";
import { guardedTx as pgGuardedTx } from "../../platform/pg-guard.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { moneyIn as readMoney } from "../../platform/money.js";

export const IDEMPOTENCY_TABLE = "loan.idempotency_keys";

/** A Money field: present, a valid currency, amount ≥ min (platform/money.ts reads it). */
export function moneyIn(field: string, m: Money | undefined, min: bigint): { amount: bigint; currency: string } {
  const a = readMoney(field, m, { min });
  return { amount: a.amountMinor, currency: a.currency };
}

/** A timestamp field, or null when unset. */
export function timeIn(field: string, t: Timestamp | undefined): Date | null {
  if (!t) return null;
  if (t.nanos < 0 || t.nanos > 999_999_999) throw invalidArgument(field, "is not a valid timestamp");
  const d = timestampDate(t);
  if (Number.isNaN(d.getTime()) || d.getUTCFullYear() < 2000 || d.getUTCFullYear() > 9999) throw invalidArgument(field, "is out of range");
  return d;
}

export function pageAfter(token: string): { t: string; id: string } | null {
  const k = v.decodePageToken(token, ["t", "id"]);
  if (!k) return null;
  if (Number.isNaN(Date.parse(k.t)) || !/^[0-9a-f-]{36}$/i.test(k.id)) throw invalidArgument("page_token", "is not a token from a previous response");
  return k;
}

export const versionMismatch = (current: bigint) =>
  rpcError(Code.Aborted, "VERSION_MISMATCH", "the object changed since you read it; read it again and retry", { current_version: current.toString() });

/** One money change under the Postgres idempotency guard (platform/pg-guard.ts). */
export const guardedTx = <S extends DescMessage>(deps: ServiceDeps, ctx: HandlerContext, schema: S, fn: (tx: Tx) => Promise<MessageShape<S>>) =>
  pgGuardedTx(deps.pool, IDEMPOTENCY_TABLE, ctx, schema, fn);

export interface LoanSettings {
  /** How often the in-process aging job runs (LOAN_AGING_INTERVAL_MS; 0 = never). */
  agingIntervalMs: number;
  /** Outbox relay poll interval and backoff (LOAN_RELAY_POLL_MS, LOAN_RELAY_BACKOFF_MS). */
  relayPollMs: number;
  relayBaseBackoffMs: number;
  /** Days past due before a loan is DEFAULTED, for products that do not say (DEFAULT_AFTER_DAYS). */
  defaultAfterDays: number;
}

export function settingsFromEnv(env: Record<string, string | undefined> = process.env): LoanSettings {
  const int = (name: string, def: number, min: number, max: number) => envInt(env, name, def, min, max);
  return {
    agingIntervalMs: int("LOAN_AGING_INTERVAL_MS", 15 * 60_000, 0, 24 * 3600_000),
    relayPollMs: int("LOAN_RELAY_POLL_MS", 200, 10, 60_000),
    relayBaseBackoffMs: int("LOAN_RELAY_BACKOFF_MS", 250, 10, 60_000),
    defaultAfterDays: int("DEFAULT_AFTER_DAYS", 90, 1, 3650),
  };
}
