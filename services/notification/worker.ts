// The delivery outbox: platform/outbox.ts claims due deliveries with a lease and records
// each outcome — SENT, a retry with backoff, or FAILED; what a row means is here: the
// channel's provider adapter, and for push, every device still owed it. Times come from
// the service's clock. Each attempt's outcome per channel is on /metrics beside the
// outbox's own series.
import { Counter } from "prom-client";
import type { Pool } from "../../platform/db.js";
import { log } from "../../platform/logger.js";
import { NOW, Outbox, type Columns, type OutboxTable, type Result } from "../../platform/outbox.js";
import { retryBackoff, type RetryPolicy } from "./backoff.js";
import { ProviderError } from "./classify.js";
import type { Providers } from "./providers/types.js";
import { DELIVERY_COLUMN_NAMES, deletePushDevice, type DeliveryRow } from "./store.js";

export interface WorkerOptions {
  pool: Pool;
  providers: Providers;
  now: () => Date;
  retry: RetryPolicy;
  pollMs: number;
  /** How long a claimed delivery stays leased; must exceed any provider timeout. */
  leaseMs: number;
  batchSize: number;
  /** Deliveries in flight at once. */
  concurrency: number;
  random?: () => number;
}

type Attempted = { ok: true; providerMessageId: string } | { ok: false; error: ProviderError; remainingTokens?: string[]; partialId?: string };

const deliveries = new Counter({
  name: "fuel_notification_deliveries_total",
  help: "Delivery attempts recorded by this process's outbox worker, by channel (SMS, EMAIL, PUSH) and outcome: sent, partial (push reached some devices; the rest are gone or out of attempts), retry, failed.",
  labelNames: ["channel", "outcome"] as const,
});

/** Content is forgotten once a delivery ends; the recipient stays (masked) for the history. */
const FORGET: Columns = { body: "", html_body: null, data: {}, push_tokens: [] };

const TABLE: OutboxTable = {
  table: "notification.deliveries",
  id: "delivery_id",
  seq: "delivery_id",
  attempts: "attempts",
  dueAt: "next_attempt_time",
  leaseUntil: "locked_until",
  lastError: "last_error",
  waiting: "status = 'QUEUED'",
  givenUp: "status = 'FAILED'",
  created: "create_time",
  columns: DELIVERY_COLUMN_NAMES,
  onDelivered: { status: "SENT", sent_time: NOW, last_error: "", next_attempt_time: null, ...FORGET },
  onDead: { status: "FAILED", next_attempt_time: null, ...FORGET },
};

export type DeliveryOutbox = Outbox<DeliveryRow>;

export function deliveryOutbox(o: WorkerOptions): DeliveryOutbox {
  const random = o.random;
  return new Outbox<DeliveryRow>({
    name: "notification",
    pool: o.pool,
    table: TABLE,
    clock: o.now,
    // The retry policy's random source shortens the delay as it grows; the outbox's as it shrinks.
    random: random && (() => 1 - random()),
    options: { ...retryBackoff(o.retry), maxAttempts: o.retry.maxAttempts, pollMs: o.pollMs, leaseMs: o.leaseMs, batchSize: o.batchSize, concurrency: o.concurrency },
    logFields: (row) => ({ delivery_id: row.delivery_id, channel: row.channel, trace_id: row.trace_id }),
    onRecorded: (row, outcome, result) => {
      const label = outcome === "delivered" ? ((result?.delivered && result.label) || "sent") : outcome === "retry" ? "retry" : "failed";
      deliveries.inc({ channel: row.channel, outcome: label });
    },
    deliver: async (row, attempt): Promise<Result> => {
      let a: Attempted;
      try {
        a = await send(o, row);
      } catch (err) {
        if (!(err instanceof ProviderError)) log.warn({ err, delivery_id: row.delivery_id }, "notification outbox: adapter failed unexpectedly");
        a = { ok: false, error: err instanceof ProviderError ? err : new ProviderError({ kind: "network" }) };
      }
      if (a.ok) return { delivered: true, set: { provider_message_id: a.providerMessageId } };
      const final = !a.error.retryable || attempt.last;
      const partialId = row.provider_message_id || a.partialId || "";
      // Push: some devices got it; the rest are gone for good or out of attempts.
      if (final && partialId !== "") return { delivered: true, set: { provider_message_id: partialId }, label: "partial" };
      const onRetry: Record<string, unknown> = {};
      if (a.remainingTokens) onRetry.push_tokens = a.remainingTokens;
      if (row.provider_message_id === "" && a.partialId) onRetry.provider_message_id = a.partialId;
      return { delivered: false, failure: { error: a.error.code, permanent: !a.error.retryable }, onRetry };
    },
  });
}

async function send(o: WorkerOptions, row: DeliveryRow): Promise<Attempted> {
  const { providers } = o;
  switch (row.channel) {
    case "SMS": {
      const r = await providers.sms.send({ to: row.recipient, body: row.body });
      return { ok: true, providerMessageId: r.providerMessageId };
    }
    case "EMAIL": {
      const r = await providers.email.send({ to: row.recipient, subject: row.subject, text: row.body, html: row.html_body ?? undefined });
      return { ok: true, providerMessageId: r.providerMessageId };
    }
    case "PUSH":
      return await sendPush(o, row);
    case "IN_APP":
      // Stored when sent; never queued. Nothing to deliver.
      return { ok: true, providerMessageId: "" };
  }
}

/** Every remaining device of the user; devices that got it are not sent to again. */
async function sendPush(o: WorkerOptions, row: DeliveryRow): Promise<Attempted> {
  const remaining: string[] = [];
  let firstId = "";
  let retryError: ProviderError | null = null;
  let permanentError: ProviderError | null = null;
  for (const token of row.push_tokens) {
    try {
      const r = await o.providers.push.send({ token, title: row.subject, body: row.body, data: row.data ?? {} });
      if (!firstId) firstId = r.providerMessageId;
    } catch (err) {
      const e = err instanceof ProviderError ? err : new ProviderError({ kind: "network" });
      if (e.retryable) {
        remaining.push(token);
        retryError ??= e;
      } else {
        permanentError ??= e;
        if (e.code === "DEVICE_UNREGISTERED") await deletePushDevice(o.pool, token).catch(() => undefined);
      }
    }
  }
  if (retryError) return { ok: false, error: retryError, remainingTokens: remaining, partialId: firstId || undefined };
  if (firstId || row.provider_message_id) return { ok: true, providerMessageId: row.provider_message_id || firstId };
  return { ok: false, error: permanentError ?? new ProviderError({ kind: "bad_response" }), remainingTokens: [] };
}
