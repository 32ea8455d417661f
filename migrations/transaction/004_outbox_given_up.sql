-- Up Migration
-- Rows given up on are few and need a person; GetOutboxStatus and the fuel_outbox_given_up
-- gauge count them on every call and scrape, so the count reads this index, not the table.
CREATE INDEX outbox_given_up ON transaction.outbox (dead_at) WHERE dead_at IS NOT NULL;

-- Down Migration
DROP INDEX transaction.outbox_given_up;
