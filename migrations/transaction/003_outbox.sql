-- Up Migration
-- The transaction outbox (platform/outbox.ts delivers it): the notices a decline owes the
-- driver (in-app and push) and, for a decline on an agency's line, the agency's admins.
-- A row is written by the same statement that records the decline, so a decline never
-- goes unannounced and is never announced twice.
CREATE TABLE transaction.outbox (
  outbox_id        uuid PRIMARY KEY,
  seq              bigserial NOT NULL UNIQUE,
  kind             text NOT NULL CHECK (kind IN ('DECLINE_NOTICE')),
  transaction_id   uuid NOT NULL UNIQUE,
  payload          jsonb NOT NULL,
  trace_carrier    jsonb NOT NULL DEFAULT '{}'::jsonb,
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  delivered_at     timestamptz,
  dead_at          timestamptz,
  last_error       text,
  create_time      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_due ON transaction.outbox (next_attempt_at, seq) WHERE delivered_at IS NULL AND dead_at IS NULL;

-- Down Migration
DROP TABLE transaction.outbox;
