-- Up Migration
-- The continuous ledger audit (services/credit/ledger-audit.ts): one row shared by every
-- replica. It is the schedule — a replica runs an audit only by moving due_time on in
-- the same statement that finds it due, so one audit runs per interval however many
-- replicas there are — and the last result, which every replica reports on /metrics.
CREATE TABLE credit.ledger_audit (
  id                  smallint PRIMARY KEY CHECK (id = 1),
  -- When the next audit may start. A running audit holds it a lease ahead of now.
  due_time            timestamptz NOT NULL,
  -- The process running an audit now (null when none is).
  claimed_by          text,
  -- The last audit that completed: when it ended and what it found.
  finish_time         timestamptz,
  consistent          boolean,
  lines_checked       bigint NOT NULL DEFAULT 0,
  entries_checked     bigint NOT NULL DEFAULT 0,
  line_differences    integer NOT NULL DEFAULT 0,
  unbalanced_entries  integer NOT NULL DEFAULT 0,
  inconsistent_holds  integer NOT NULL DEFAULT 0,
  duration_ms         integer NOT NULL DEFAULT 0,
  -- The last audit that could not complete (a timeout, the database away), and why.
  failure_time        timestamptz,
  last_error          text
);
INSERT INTO credit.ledger_audit (id, due_time) VALUES (1, now());

-- Down Migration
DROP TABLE credit.ledger_audit;
