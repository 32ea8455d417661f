// The outbox worker: claims due deliveries with a lease, hands each to its provider
// adapter, and records the outcome — SENT, a retry with backoff, or FAILED. It polls
// every `pollMs` and wakes at once when a send queues something in this process. The
// queue's depth and age, and each attempt's outcome, are on /metrics.
import { Counter } from "prom-client";
import { log } from "../../platform/logger.js";
import type { Pool } from "../../platform/db.js";
import { backlogSql, watchOutbox } from "../../platform/outbox-metrics.js";
import { nextRetryDelayMs, type RetryPolicy } from "./backoff.js";
import { ProviderError } from "./classify.js";
import { claimDue, deletePushDevice, failExhausted, markAttemptFailed, markSent, type DeliveryRow } from "./store.js";
import type { Providers } from "./providers/types.js";

export interface WorkerOptions {
  pool: Pool;
  providers: Providers;
  now: () => Date;
  retry: RetryPolicy;
  pollMs: number;
  /** How long a claimed delivery stays leased; must exceed any provider timeout. */
  leaseMs: number;
  batchSize: number;
  /** Deliveries in flight at once within a batch. */
  concurrency: number;
  random?: () => number;
}

/** How often deliveries abandoned on their last attempt are closed as FAILED. */
const SWEEP_EVERY_MS = 5_000;

type Outcome = { ok: true; providerMessageId: string } | { ok: false; error: ProviderError; remainingTokens?: string[]; partialId?: string };

const deliveries = new Counter({
  name: "fuel_notification_deliveries_total",
  help: "Delivery attempts recorded by this process's outbox worker, by channel (SMS, EMAIL, PUSH) and outcome: sent, partial (push reached some devices; the rest are gone or out of attempts), retry, failed.",
  labelNames: ["channel", "outcome"] as const,
});

export class OutboxWorker {
  private stopped = false;
  private wakeTimer: (() => void) | null = null;
  private pending = false;
  private loop: Promise<void> | null = null;
  private lastSweep = 0;
  private unwatch: (() => void) | undefined;

  constructor(private readonly o: WorkerOptions) {}

  start(): void {
    if (this.loop) return;
    this.loop = this.run();
    this.unwatch = watchOutbox("notification", this.o.pool, backlogSql("notification.deliveries", "status = 'QUEUED'"));
  }

  /** Something was queued: deliver now rather than at the next poll. */
  wake(): void {
    this.pending = true;
    this.wakeTimer?.();
  }

  async stop(): Promise<void> {
    this.unwatch?.();
    this.stopped = true;
    this.wakeTimer?.();
    await this.loop;
    this.o.providers.email.close?.();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let full = false;
      try {
        this.pending = false;
        full = (await this.tick()) >= this.o.batchSize;
      } catch (err) {
        if (this.stopped) break;
        log.warn({ err }, "notification outbox: poll failed");
      }
      if (this.stopped) break;
      if (full || this.pending) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, this.o.pollMs);
        function done() {
          clearTimeout(t);
          resolve();
        }
        this.wakeTimer = done;
      });
      this.wakeTimer = null;
    }
  }

  /** One pass: claims and delivers one batch. Returns how many were claimed. */
  async tick(): Promise<number> {
    const now = this.o.now();
    if (now.getTime() - this.lastSweep >= SWEEP_EVERY_MS) {
      this.lastSweep = now.getTime();
      await failExhausted(this.o.pool, this.o.retry.maxAttempts, now);
    }
    const rows = await claimDue(this.o.pool, now, this.o.leaseMs, this.o.batchSize);
    for (let i = 0; i < rows.length; i += this.o.concurrency) {
      await Promise.all(rows.slice(i, i + this.o.concurrency).map((r) => this.deliverOne(r)));
    }
    return rows.length;
  }

  private async deliverOne(row: DeliveryRow): Promise<void> {
    let outcome: Outcome;
    try {
      outcome = await this.attempt(row);
    } catch (err) {
      const error = err instanceof ProviderError ? err : new ProviderError({ kind: "network" });
      if (!(err instanceof ProviderError)) log.warn({ err, delivery_id: row.delivery_id }, "notification outbox: adapter failed unexpectedly");
      outcome = { ok: false, error };
    }
    const now = this.o.now();
    const fields = { delivery_id: row.delivery_id, channel: row.channel, attempt: row.attempts, trace_id: row.trace_id };
    try {
      if (outcome.ok) {
        if (await markSent(this.o.pool, row, outcome.providerMessageId, now)) deliveries.inc({ channel: row.channel, outcome: "sent" });
        log.info(fields, "notification delivered");
        return;
      }
      const delay = outcome.error.retryable ? nextRetryDelayMs(row.attempts, this.o.retry, this.o.random) : null;
      const partialId = row.provider_message_id || outcome.partialId || "";
      if (delay === null && partialId !== "") {
        // Push: some devices got it; the rest are gone for good or out of attempts.
        if (await markSent(this.o.pool, row, partialId, now)) deliveries.inc({ channel: row.channel, outcome: "partial" });
        log.info({ ...fields, error: outcome.error.code }, "notification delivered to some devices");
        return;
      }
      const nextAttemptAt = delay === null ? null : new Date(now.getTime() + delay);
      const recorded = await markAttemptFailed(this.o.pool, row, {
        code: outcome.error.code,
        nextAttemptAt,
        remainingPushTokens: outcome.remainingTokens,
        providerMessageId: outcome.partialId,
      });
      if (recorded) deliveries.inc({ channel: row.channel, outcome: nextAttemptAt ? "retry" : "failed" });
      if (nextAttemptAt) log.info({ ...fields, error: outcome.error.code, retry_in_ms: delay }, "notification attempt failed; will retry");
      else log.warn({ ...fields, error: outcome.error.code, retryable: outcome.error.retryable }, "notification delivery failed");
    } catch (err) {
      // The lease runs out and the row is claimed again: nothing is lost.
      log.warn({ err, delivery_id: row.delivery_id }, "notification outbox: could not record outcome");
    }
  }

  private async attempt(row: DeliveryRow): Promise<Outcome> {
    const { providers } = this.o;
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
        return await this.attemptPush(row);
      case "IN_APP":
        // Stored when sent; never queued. Nothing to deliver.
        return { ok: true, providerMessageId: "" };
    }
  }

  /** Every remaining device of the user; devices that got it are not sent to again. */
  private async attemptPush(row: DeliveryRow): Promise<Outcome> {
    const remaining: string[] = [];
    let firstId = "";
    let retryError: ProviderError | null = null;
    let permanentError: ProviderError | null = null;
    for (const token of row.push_tokens) {
      try {
        const r = await this.o.providers.push.send({ token, title: row.subject, body: row.body, data: row.data ?? {} });
        if (!firstId) firstId = r.providerMessageId;
      } catch (err) {
        const e = err instanceof ProviderError ? err : new ProviderError({ kind: "network" });
        if (e.retryable) {
          remaining.push(token);
          retryError ??= e;
        } else {
          permanentError ??= e;
          if (e.code === "DEVICE_UNREGISTERED") await deletePushDevice(this.o.pool, token).catch(() => undefined);
        }
      }
    }
    if (retryError) return { ok: false, error: retryError, remainingTokens: remaining, partialId: firstId || undefined };
    if (firstId || row.provider_message_id) return { ok: true, providerMessageId: row.provider_message_id || firstId };
    return { ok: false, error: permanentError ?? new ProviderError({ kind: "bad_response" }), remainingTokens: [] };
  }
}
