-- Up Migration
-- The relay delivers a loan's notices in order: a NOTIFY row waits while an earlier
-- notice of the same loan is pending. This index answers "is one pending?" from the
-- handful of undelivered notices rather than the loan's whole outbox history.
CREATE INDEX outbox_notice_pending ON loan.outbox (loan_id, seq) WHERE kind = 'NOTIFY' AND delivered_at IS NULL AND dead_at IS NULL;

-- Down Migration
DROP INDEX loan.outbox_notice_pending;
