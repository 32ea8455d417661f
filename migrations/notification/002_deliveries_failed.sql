-- Up Migration
-- Deliveries given up on are few and need a person; GetOutboxStatus and the
-- fuel_outbox_given_up gauge count them on every call and scrape, so the count reads this
-- index, not the table.
CREATE INDEX deliveries_failed ON notification.deliveries (create_time) WHERE status = 'FAILED';

-- Down Migration
DROP INDEX notification.deliveries_failed;
