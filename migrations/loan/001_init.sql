-- Up Migration
-- LoanService schema: banks' loan products, loans (one per settled transaction, terms
-- copied from the product), repayments with their allocation, status history (for
-- statements), the outbox (credit restores and borrower notices) and the Postgres
-- idempotency guard for the money methods.

CREATE TABLE loan.products (
  product_id                uuid PRIMARY KEY,
  bank_id                   uuid NOT NULL,
  name                      text NOT NULL,
  currency                  text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  fee_fixed                 bigint NOT NULL CHECK (fee_fixed >= 0),
  fee_bps                   integer NOT NULL CHECK (fee_bps BETWEEN 0 AND 10000),
  daily_interest_bps        integer NOT NULL CHECK (daily_interest_bps BETWEEN 0 AND 1000),
  term_days                 integer NOT NULL CHECK (term_days BETWEEN 1 AND 365),
  default_after_days        integer NOT NULL CHECK (default_after_days BETWEEN 1 AND 3650),
  reminder_days_before_due  integer NOT NULL CHECK (reminder_days_before_due BETWEEN 0 AND 30),
  is_default                boolean NOT NULL DEFAULT false,
  status                    text NOT NULL CHECK (status IN ('ACTIVE','RETIRED')),
  version                   bigint NOT NULL DEFAULT 1,
  create_time               timestamptz NOT NULL,
  update_time               timestamptz NOT NULL
);
-- At most one default product per bank and currency.
CREATE UNIQUE INDEX products_one_default ON loan.products (bank_id, currency) WHERE is_default;
CREATE INDEX products_bank_newest ON loan.products (bank_id, create_time DESC, product_id DESC);
CREATE INDEX products_newest ON loan.products (create_time DESC, product_id DESC);

CREATE TABLE loan.loans (
  loan_id                   uuid PRIMARY KEY,
  -- One loan per settled transaction: the final guard against a duplicate.
  transaction_id            uuid NOT NULL UNIQUE,
  -- Hash of the settlement request, to tell a repeat from a conflicting request.
  settlement_hash           text NOT NULL,
  driver_id                 uuid NOT NULL,
  agency_id                 uuid,
  bank_id                   uuid NOT NULL,
  credit_line_id            uuid NOT NULL,
  product_id                uuid NOT NULL REFERENCES loan.products (product_id),
  currency                  text NOT NULL,
  principal                 bigint NOT NULL CHECK (principal > 0),
  fee                       bigint NOT NULL CHECK (fee >= 0),
  daily_interest_bps        integer NOT NULL,
  term_days                 integer NOT NULL,
  default_after_days        integer NOT NULL,
  reminder_days_before_due  integer NOT NULL,
  disburse_time             timestamptz NOT NULL,
  due_time                  timestamptz NOT NULL,
  status                    text NOT NULL CHECK (status IN ('ACTIVE','OVERDUE','DEFAULTED','PAID_OFF')),
  paid_off_time             timestamptz,
  default_time              timestamptz,
  reminder_sent_time        timestamptz,
  -- The borrower's user account (resolved from KycService when first notified).
  borrower_user_id          uuid,
  version                   bigint NOT NULL DEFAULT 1,
  create_time               timestamptz NOT NULL,
  update_time               timestamptz NOT NULL
);
CREATE INDEX loans_newest ON loan.loans (disburse_time DESC, loan_id DESC);
CREATE INDEX loans_driver ON loan.loans (driver_id, disburse_time DESC, loan_id DESC);
CREATE INDEX loans_agency ON loan.loans (agency_id, disburse_time DESC, loan_id DESC) WHERE agency_id IS NOT NULL;
CREATE INDEX loans_bank ON loan.loans (bank_id, disburse_time DESC, loan_id DESC);
CREATE INDEX loans_line ON loan.loans (credit_line_id);
CREATE INDEX loans_open ON loan.loans (loan_id) WHERE status <> 'PAID_OFF';

CREATE TABLE loan.repayments (
  repayment_id        uuid PRIMARY KEY,
  seq                 bigserial NOT NULL UNIQUE,
  loan_id             uuid NOT NULL REFERENCES loan.loans (loan_id),
  bank_id             uuid NOT NULL,
  currency            text NOT NULL,
  amount              bigint NOT NULL CHECK (amount > 0),
  fee_part            bigint NOT NULL CHECK (fee_part >= 0),
  interest_part       bigint NOT NULL CHECK (interest_part >= 0),
  principal_part      bigint NOT NULL CHECK (principal_part >= 0),
  balance_after       bigint NOT NULL CHECK (balance_after >= 0),
  source              text NOT NULL CHECK (source IN ('PAYMENT','BANK_RECORDED')),
  payment_id          uuid,
  external_reference  text,
  receive_time        timestamptz NOT NULL,
  create_time         timestamptz NOT NULL,
  recorded_by         text NOT NULL,
  credit_restored     boolean NOT NULL DEFAULT false,
  restore_entry_id    uuid,
  CHECK (fee_part + interest_part + principal_part = amount),
  CHECK ((source = 'PAYMENT') = (payment_id IS NOT NULL)),
  CHECK ((source = 'BANK_RECORDED') = (external_reference IS NOT NULL)),
  UNIQUE (payment_id, loan_id),
  UNIQUE (bank_id, external_reference)
);
CREATE INDEX repayments_loan ON loan.repayments (loan_id, receive_time, seq);

-- The first result of ApplyRepayment per (payment, loan), returned on every repeat
-- (also when nothing could be applied and no repayment exists).
CREATE TABLE loan.payment_applications (
  payment_id   uuid NOT NULL,
  loan_id      uuid NOT NULL,
  response     bytea NOT NULL,
  create_time  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (payment_id, loan_id)
);

-- Every status change, for statements and audit.
CREATE TABLE loan.status_changes (
  change_id      bigserial PRIMARY KEY,
  loan_id        uuid NOT NULL REFERENCES loan.loans (loan_id),
  from_status    text NOT NULL,
  to_status      text NOT NULL,
  change_time    timestamptz NOT NULL,
  days_past_due  integer NOT NULL DEFAULT 0,
  cause          text NOT NULL CHECK (cause IN ('AGING','REPAYMENT'))
);
CREATE INDEX status_changes_loan ON loan.status_changes (loan_id, change_time, change_id);

-- Work owed to other services, written in the same transaction as the decision that owes
-- it: RESTORE_CREDIT (CreditService.RestoreCredit, retried until it succeeds) and NOTIFY
-- (NotificationService.SendInApp to the borrower).
CREATE TABLE loan.outbox (
  outbox_id        uuid PRIMARY KEY,
  seq              bigserial NOT NULL UNIQUE,
  kind             text NOT NULL CHECK (kind IN ('RESTORE_CREDIT','NOTIFY')),
  loan_id          uuid NOT NULL,
  repayment_id     uuid UNIQUE,
  payload          jsonb NOT NULL,
  -- W3C trace context (traceparent / tracestate) of the request that wrote the row.
  trace_carrier    jsonb NOT NULL DEFAULT '{}'::jsonb,
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  delivered_at     timestamptz,
  dead_at          timestamptz,
  last_error       text,
  create_time      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_due ON loan.outbox (next_attempt_at, seq) WHERE delivered_at IS NULL AND dead_at IS NULL;

-- Postgres idempotency guard (platform/pg-guard.ts) for the money methods.
CREATE TABLE loan.idempotency_keys (
  scope         text NOT NULL,
  key           text NOT NULL,
  request_hash  text NOT NULL,
  response      bytea,
  create_time   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scope, key)
);

-- Down Migration
DROP TABLE loan.idempotency_keys;
DROP TABLE loan.outbox;
DROP TABLE loan.status_changes;
DROP TABLE loan.payment_applications;
DROP TABLE loan.repayments;
DROP TABLE loan.loans;
DROP TABLE loan.products;
