// The outbox's pure rules: backoff, what becomes of a failed attempt, how a call error
// reads, which settings are refused, and the shape of its statements.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Code, ConnectError } from "@connectrpc/connect";
import { backoffMs, connectFailure, DEFAULT_OUTBOX_OPTIONS, isInterrupted, outboxOptions, verdict } from "../platform/outbox-rules.js";
import { claimStatement, deliveredManyStatement, NOW, raw, recordStatement, type OutboxTable } from "../platform/outbox-sql.js";

const test = suite("outbox rules");

test("backoff: exponential, capped, jitter only shortens it, within the fraction", () => {
  const o = { baseBackoffMs: 100, maxBackoffMs: 1_000 };
  assert.is(backoffMs(1, o, () => 1), 100);
  assert.is(backoffMs(2, o, () => 1), 200);
  assert.is(backoffMs(3, o, () => 0), 200, "default jitter: up to half");
  assert.is(backoffMs(50, o, () => 1), 1_000);
  assert.is(backoffMs(1e9, o, () => 1), 1_000, "no overflow past the cap");
  const three = { ...o, factor: 3, jitter: 0.25, maxBackoffMs: 100_000 };
  assert.is(backoffMs(3, three, () => 1), 900);
  assert.is(backoffMs(3, three, () => 0), 675);
  assert.is(backoffMs(3, { ...three, jitter: 0 }, () => 0), 900);
  assert.is(backoffMs(2, o, () => 7), 200, "a random source out of range is clamped");
});

test("verdict: delivered, retry with backoff, dead on a permanent answer or the last attempt", () => {
  const backoff = { baseBackoffMs: 100, maxBackoffMs: 1_000 };
  const policy = { maxAttempts: 3, mayGiveUp: true };
  const transient = { error: "Unavailable: down", permanent: false };
  const permanent = { error: "NotFound: gone", permanent: true };
  assert.equal(verdict(null, 1, policy, backoff), { outcome: "delivered" });
  assert.equal(verdict(transient, 2, policy, backoff, () => 1), { outcome: "retry", delayMs: 200 });
  assert.equal(verdict(transient, 3, policy, backoff), { outcome: "dead" });
  assert.equal(verdict(permanent, 1, policy, backoff), { outcome: "dead" });
  const forever = { maxAttempts: 3, mayGiveUp: false };
  assert.equal(verdict(permanent, 1, forever, backoff, () => 1), { outcome: "retry", delayMs: 100 });
  assert.equal(verdict(transient, 99, forever, backoff, () => 1), { outcome: "retry", delayMs: 1_000 });
  assert.equal(verdict(transient, 99, { maxAttempts: Infinity, mayGiveUp: true }, backoff, () => 1), { outcome: "retry", delayMs: 1_000 });
  assert.ok(isInterrupted(4, policy));
  assert.not.ok(isInterrupted(3, policy));
  assert.not.ok(isInterrupted(4, forever));
});

test("a call error reads as its code and message, permanent by code, bounded", () => {
  assert.equal(connectFailure(new ConnectError("down", Code.Unavailable)), { error: "Unavailable: down", permanent: false });
  assert.equal(connectFailure(new ConnectError("gone", Code.NotFound)), { error: "NotFound: gone", permanent: true });
  assert.is(connectFailure(new ConnectError("denied", Code.PermissionDenied), new Set([Code.NotFound])).permanent, false);
  assert.is(connectFailure(new Error("x".repeat(2_000))).error.length, 500);
});

test("options: defaults filled in, concurrency within the batch, bad values refused", () => {
  assert.equal(outboxOptions({}), DEFAULT_OUTBOX_OPTIONS);
  assert.is(outboxOptions({ batchSize: 5 }).concurrency, 5);
  assert.is(outboxOptions({ maxAttempts: Infinity }).maxAttempts, Infinity);
  assert.throws(() => outboxOptions({ batchSize: 0 }), /batchSize/);
  assert.throws(() => outboxOptions({ batchSize: 10_000 }), /batchSize/);
  assert.throws(() => outboxOptions({ batchSize: 5, concurrency: 6 }), /concurrency/);
  assert.throws(() => outboxOptions({ baseBackoffMs: 1_000, maxBackoffMs: 10 }), /maxBackoffMs/);
  assert.throws(() => outboxOptions({ jitter: 2 }), /jitter/);
  assert.throws(() => outboxOptions({ maxAttempts: 0 }), /maxAttempts/);
  assert.throws(() => outboxOptions({ pollMs: Number.NaN }), /pollMs/);
});

const table: OutboxTable = {
  table: "s.outbox",
  id: "outbox_id",
  seq: "seq",
  attempts: "attempts",
  dueAt: "next_attempt_at",
  lastError: "last_error",
  waiting: "delivered_at IS NULL",
  givenUp: "dead_at IS NOT NULL",
  created: "create_time",
  columns: ["payload", "attempts"],
  onDelivered: { delivered_at: NOW, last_error: null },
  onDead: { dead_at: NOW },
};

test("claim: one statement, bounded, skips locked rows, takes the lease in the due column or its own", () => {
  const c = claimStatement(table, null, 20, 30_000);
  assert.match(c.text, "FOR UPDATE SKIP LOCKED");
  assert.match(c.text, "LIMIT $1");
  assert.match(c.text, "next_attempt_at = now() + make_interval(secs => $2::double precision / 1000)");
  assert.match(c.text, "RETURNING r.outbox_id, r.attempts, r.payload");
  assert.not.match(c.text, "EXISTS");
  assert.equal(c.values, [20, 30_000]);
  const at = new Date(0);
  const leased = claimStatement({ ...table, leaseUntil: "locked_until" }, at, 5, 1_000);
  assert.match(leased.text, "(locked_until IS NULL OR locked_until <= $1::timestamptz)");
  assert.match(leased.text, "locked_until = $");
  assert.equal(leased.values.slice(0, 1), [at]);
  const keyed = claimStatement({ ...table, orderPerKey: { key: "loan_id", where: "kind = 'NOTIFY'" } }, null, 5, 1_000);
  assert.match(keyed.text, "NOT ((kind = 'NOTIFY') AND EXISTS (SELECT 1 FROM s.outbox e WHERE (kind = 'NOTIFY') AND (delivered_at IS NULL) AND e.loan_id = o.loan_id AND e.seq < o.seq))");
});

test("record: fenced by the attempt, one column set once, retry rescheduled", () => {
  const done = recordStatement(table, null, "id-1", 3, { outcome: "delivered", set: { last_error: "", ref: "r" } });
  assert.is(done.text, "UPDATE s.outbox SET delivered_at = now(), last_error = $3, ref = $4 WHERE outbox_id = $1 AND attempts = $2 AND (delivered_at IS NULL)");
  assert.equal(done.values, ["id-1", 3, "", "r"]);
  const dead = recordStatement(table, null, "id-1", 3, { outcome: "dead", error: "gone", set: { attempts: raw("attempts - 1") } });
  assert.is(dead.text, "UPDATE s.outbox SET dead_at = now(), last_error = $3, attempts = attempts - 1 WHERE outbox_id = $1 AND attempts = $2 AND (delivered_at IS NULL)");
  const retry = recordStatement({ ...table, leaseUntil: "locked_until" }, null, "id-1", 3, { outcome: "retry", error: "down", delayMs: 500 });
  assert.is(retry.text, "UPDATE s.outbox SET last_error = $3, locked_until = $4, next_attempt_at = now() + make_interval(secs => $5::double precision / 1000) WHERE outbox_id = $1 AND attempts = $2 AND (delivered_at IS NULL)");
  assert.equal(retry.values, ["id-1", 3, "down", null, 500]);
});

test("plain deliveries of a batch: one statement, each row fenced by its own attempt", () => {
  const s = deliveredManyStatement({ ...table, leaseUntil: "locked_until" }, null, [
    { id: "a", attempts: 1 },
    { id: "b", attempts: 4 },
  ]);
  assert.match(s.text, "SET delivered_at = now(), last_error = $3, locked_until = $4");
  assert.match(s.text, "FROM unnest($1::uuid[], $2::int[]) AS u(claimed_id, claimed_attempts)");
  assert.match(s.text, "WHERE r.outbox_id = u.claimed_id AND r.attempts = u.claimed_attempts AND (delivered_at IS NULL)");
  assert.equal(s.values, [["a", "b"], [1, 4], null, null]);
});

test.run();
