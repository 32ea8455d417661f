// A load of sales as POS terminals make them, for the fault suites: each terminal (its
// own grpc-js channel to the gateway) sells back to back, a sale being Authorize then
// Settle, each with its own idempotency key. A call answered with a retryable code is
// retried with the same key every RETRY_EVERY_MS, as a real terminal does, until it is
// answered; any other code ends the sale as failed. Every attempt is recorded with its
// answer and time, so a test can say what clients saw during a fault and after it.
import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { TransactionService, TransactionStatus } from "../../gen/fuel/transaction/v1/transaction_pb.js";
import type { GrpcJsClient } from "./clients.js";
import { authorizeRequest, qrPayload, RETRYABLE, settleRequest, type SaleWorld } from "./sale-world.js";

/** How often a terminal retries a call answered with a retryable code. */
export const RETRY_EVERY_MS = 100;
/** A sale still unanswered after this long is given up (and fails the test that made it). */
export const SALE_GIVE_UP_MS = 60_000;
/** QR codes kept ready, so a fault that stops GenerateQrCode does not stop the sales. */
const QR_BUFFER = 600;

export type Op = "authorize" | "settle";

export interface Attempt {
  op: Op;
  /** grpc status; 0 = OK. */
  code: number;
  /** performance.now() when the call was sent. */
  sentAt: number;
  /** performance.now() when the answer arrived. */
  at: number;
}

export interface Sale {
  authKey: string;
  settleKey: string;
  transactionId: string;
  loanId: string;
  /** What Settle answered: SETTLED (with the loan), or CAPTURED (the loan follows, by the sweeper). */
  settledStatus: TransactionStatus | null;
  attempts: Attempt[];
  /** performance.now() when Settle answered OK; null while it has not. */
  settledAt: number | null;
  /** The non-retryable answer that ended the sale, if one did. */
  failed: { op: Op; code: number; details: string } | null;
}

export class SaleLoad {
  readonly sales: Sale[] = [];
  /** Codes GenerateQrCode answered (the driver's app keeps the buffer filled). */
  readonly qrCodes: number[] = [];
  private readonly qrs: string[] = [];
  private stopping = false;
  private abandoned = false;
  private lanes: Promise<void>[] = [];
  private refill: Promise<void> | null = null;

  constructor(
    private readonly w: SaleWorld,
    private readonly terminals: GrpcJsClient<typeof TransactionService>[],
    private readonly amountMinor: bigint,
    private readonly volumeMl: bigint,
  ) {}

  /** Fills the QR buffer; call before `start` (QRs live five minutes). */
  async prepare(n = QR_BUFFER): Promise<void> {
    while (this.qrs.length < n) {
      const batch = await Promise.all(Array.from({ length: Math.min(8, n - this.qrs.length) }, () => qrPayload(this.w)));
      this.qrs.push(...batch.map((q) => q.payload));
    }
  }

  start(): void {
    this.stopping = false;
    this.lanes = this.terminals.map((t) => this.lane(t));
    this.refill = this.keepQrs();
  }

  /** Stops starting sales; resolves when every sale begun has been answered. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.lanes);
    await this.refill;
  }

  /** Stops at once, retrying nothing more (a test that failed midway cleans up). */
  async abandon(): Promise<void> {
    this.abandoned = true;
    await this.stop();
  }

  private async lane(pos: GrpcJsClient<typeof TransactionService>): Promise<void> {
    while (!this.stopping) {
      const qr = this.qrs.shift();
      if (!qr) {
        await sleep(20);
        continue;
      }
      const sale: Sale = {
        authKey: randomUUID(), settleKey: randomUUID(), transactionId: "", loanId: "", settledStatus: null, attempts: [], settledAt: null, failed: null,
      };
      this.sales.push(sale);
      const a = await this.call(sale, "authorize", () =>
        pos.unary(TransactionService.method.authorize, authorizeRequest(this.w, qr, this.amountMinor), { "idempotency-key": sale.authKey }));
      if (!a) continue;
      sale.transactionId = a.message.transaction!.transactionId;
      const s = await this.call(sale, "settle", () =>
        pos.unary(TransactionService.method.settle, settleRequest(sale.transactionId, this.volumeMl), { "idempotency-key": sale.settleKey }));
      if (!s) continue;
      sale.loanId = s.message.transaction!.loanId;
      sale.settledStatus = s.message.transaction!.status;
      sale.settledAt = performance.now();
    }
  }

  /** One step of a sale as a terminal makes it: retried with its key while the answer is retryable. */
  private async call<T>(sale: Sale, op: Op, fn: () => Promise<T>): Promise<T | null> {
    const started = performance.now();
    for (;;) {
      const sentAt = performance.now();
      try {
        const out = await fn();
        sale.attempts.push({ op, code: 0, sentAt, at: performance.now() });
        return out;
      } catch (err) {
        const e = err as grpc.ServiceError;
        const code = typeof e.code === "number" ? e.code : grpc.status.UNKNOWN;
        sale.attempts.push({ op, code, sentAt, at: performance.now() });
        if (!RETRYABLE.has(code) || performance.now() - started > SALE_GIVE_UP_MS || this.abandoned) {
          sale.failed = { op, code, details: e.details ?? String(err) };
          return null;
        }
        await sleep(RETRY_EVERY_MS);
      }
    }
  }

  private async keepQrs(): Promise<void> {
    while (!this.stopping) {
      if (this.qrs.length >= QR_BUFFER) {
        await sleep(50);
        continue;
      }
      try {
        this.qrs.push((await qrPayload(this.w)).payload);
        this.qrCodes.push(0);
      } catch (err) {
        this.qrCodes.push(Number((err as { code?: number }).code ?? grpc.status.UNKNOWN));
        await sleep(RETRY_EVERY_MS);
      }
    }
  }

  /** Sales whose Settle answered OK in [from, to). */
  settledBetween(from: number, to = Infinity): Sale[] {
    return this.sales.filter((s) => s.settledAt !== null && s.settledAt >= from && s.settledAt < to);
  }

  /** The first successful answer (either step) at or after `t`, or null. */
  firstSuccessAfter(t: number): number | null {
    let first: number | null = null;
    for (const s of this.sales) for (const a of s.attempts) if (a.code === 0 && a.at >= t && (first === null || a.at < first)) first = a.at;
    return first;
  }

  /** Answers by code name, of attempts answered in [from, to). */
  codesBetween(from: number, to = Infinity): Record<string, number> {
    const out: Record<string, number> = {};
    for (const s of this.sales) {
      for (const a of s.attempts) {
        if (a.at < from || a.at >= to) continue;
        const name = grpc.status[a.code] ?? String(a.code);
        out[name] = (out[name] ?? 0) + 1;
      }
    }
    return out;
  }

  /** Sales where at least one attempt was answered with a retryable code. */
  retried(): Sale[] {
    return this.sales.filter((s) => s.attempts.some((a) => a.code !== 0));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
