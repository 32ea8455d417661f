-- Up Migration
-- PaymentService schema: payments and their allocations over loans, every gateway event
-- received (unique per gateway + event id, so each is applied once), the outbox that
-- turns a succeeded payment into LoanService.ApplyRepayment calls, and the Postgres
-- idempotency guard for the methods that move money.

CREATE TABLE payment.payments (
  payment_id             uuid PRIMARY KEY,
  driver_id              uuid,
  agency_id              uuid,
  initiated_by           text NOT NULL,
  status                 text NOT NULL DEFAULT 'PENDING'
                         CHECK (status IN ('PENDING','SUCCEEDED','FAILED','EXPIRED','NEEDS_REVIEW')),
  currency               text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  amount_minor           bigint NOT NULL CHECK (amount_minor > 0),
  method                 text NOT NULL CHECK (method IN ('CARD','BANK_TRANSFER','MOBILE_MONEY','USSD')),
  return_url             text NOT NULL DEFAULT '',
  gateway                text NOT NULL,
  gateway_payment_id     text,
  checkout_url           text NOT NULL DEFAULT '',
  -- What the gateway reported as collected (unset until it reports).
  received_minor         bigint,
  received_currency      text,
  review_reason          text NOT NULL DEFAULT 'UNSPECIFIED'
                         CHECK (review_reason IN ('UNSPECIFIED','AMOUNT_MISMATCH','CURRENCY_MISMATCH','OVERPAYMENT')),
  -- Received but not applied to any loan (in received_currency).
  unapplied_minor        bigint NOT NULL DEFAULT 0 CHECK (unapplied_minor >= 0),
  failure_code           text NOT NULL DEFAULT '',
  failure_message        text NOT NULL DEFAULT '',
  -- The initiating call's idempotency key: a retry finds this payment again, so the
  -- gateway (keyed by payment_id) is never asked for a second charge.
  idempotency_scope      text NOT NULL,
  idempotency_key        text NOT NULL,
  request_hash           text NOT NULL,
  create_time            timestamptz NOT NULL,
  update_time            timestamptz NOT NULL,
  succeed_time           timestamptz,
  expire_time            timestamptz NOT NULL,
  last_sync_time         timestamptz,
  CHECK ((driver_id IS NULL) <> (agency_id IS NULL)),
  UNIQUE (idempotency_scope, idempotency_key)
);
CREATE UNIQUE INDEX payments_gateway_id ON payment.payments (gateway, gateway_payment_id) WHERE gateway_payment_id IS NOT NULL;
CREATE INDEX payments_newest ON payment.payments (create_time DESC, payment_id DESC);
CREATE INDEX payments_driver ON payment.payments (driver_id, create_time DESC, payment_id DESC) WHERE driver_id IS NOT NULL;
CREATE INDEX payments_agency ON payment.payments (agency_id, create_time DESC, payment_id DESC) WHERE agency_id IS NOT NULL;
CREATE INDEX payments_pending ON payment.payments (create_time, payment_id) WHERE status = 'PENDING';

-- One row per loan repaid by a payment. The loan's owner and bank are copied at
-- initiation (from LoanService) so access checks and filters are local queries.
CREATE TABLE payment.allocations (
  payment_id      uuid NOT NULL REFERENCES payment.payments (payment_id),
  loan_id         uuid NOT NULL,
  position        integer NOT NULL,
  amount_minor    bigint NOT NULL CHECK (amount_minor > 0),
  currency        text NOT NULL,
  loan_driver_id  uuid NOT NULL,
  loan_agency_id  uuid,
  loan_bank_id    uuid NOT NULL,
  status          text NOT NULL DEFAULT 'PENDING'
                  CHECK (status IN ('PENDING','APPLIED','PARTIALLY_APPLIED','NOT_APPLIED')),
  applied_minor   bigint NOT NULL DEFAULT 0 CHECK (applied_minor >= 0 AND applied_minor <= amount_minor),
  repayment_id    uuid,
  PRIMARY KEY (payment_id, loan_id),
  UNIQUE (payment_id, position)
);
CREATE INDEX allocations_loan ON payment.allocations (loan_id);
CREATE INDEX allocations_bank ON payment.allocations (loan_bank_id, payment_id);
CREATE INDEX allocations_agency ON payment.allocations (loan_agency_id, payment_id) WHERE loan_agency_id IS NOT NULL;

-- Every gateway event we accepted (signature valid), from webhooks or from a sync.
-- The primary key is what makes each event apply once.
CREATE TABLE payment.gateway_events (
  gateway       text NOT NULL,
  event_id      text NOT NULL,
  source        text NOT NULL CHECK (source IN ('WEBHOOK','SYNC')),
  payment_id    uuid,
  type          text NOT NULL,
  outcome       text NOT NULL,
  event         jsonb NOT NULL,
  receive_time  timestamptz NOT NULL,
  PRIMARY KEY (gateway, event_id)
);
CREATE INDEX gateway_events_payment ON payment.gateway_events (payment_id, receive_time);

-- One row per allocation to apply after a success, written in the same transaction as
-- the status change. The relay calls LoanService.ApplyRepayment with outbox_id as the
-- idempotency key until it succeeds.
CREATE TABLE payment.outbox (
  outbox_id        uuid PRIMARY KEY,
  seq              bigserial NOT NULL UNIQUE,
  payment_id       uuid NOT NULL REFERENCES payment.payments (payment_id),
  loan_id          uuid NOT NULL,
  -- W3C trace context (traceparent / tracestate) of the request that wrote the row.
  trace_carrier    jsonb NOT NULL DEFAULT '{}'::jsonb,
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  delivered_at     timestamptz,
  dead_at          timestamptz,
  last_error       text,
  create_time      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (payment_id, loan_id)
);
CREATE INDEX outbox_due ON payment.outbox (next_attempt_at, seq) WHERE delivered_at IS NULL AND dead_at IS NULL;

CREATE TABLE payment.idempotency_keys (
  scope         text NOT NULL,
  key           text NOT NULL,
  request_hash  text NOT NULL,
  response      bytea,
  create_time   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scope, key)
);

-- Down Migration
DROP TABLE payment.idempotency_keys;
DROP TABLE payment.outbox;
DROP TABLE payment.gateway_events;
DROP TABLE payment.allocations;
DROP TABLE payment.payments;
