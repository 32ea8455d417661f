-- Up Migration
-- TransactionService schema: issued QR codes (single use), fuel transactions with their
-- persisted state machine, and the Postgres idempotency guard (platform/pg-guard.ts).
--
-- Crash safety: every step that calls another service first commits its intent (the
-- transaction's `state`), then calls (keyed by the transaction id), then records the
-- result. A row left in PENDING, CAPTURING, CAPTURED or VOIDING is finished by a client
-- retry with the same idempotency key or by the recovery sweeper (`recover_after`).

CREATE TABLE transaction.idempotency_keys (
  scope          text,
  key            text,
  request_hash   text NOT NULL,
  response       bytea,
  -- The transaction this key started or acted on (set in the same transaction as the
  -- key), so a retry after a crash can resume it. An empty `response` = not finished.
  transaction_id uuid,
  create_time    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scope, key)
);

-- Issued QR codes. Consumed atomically (ACTIVE → USED) in the same database transaction
-- that records the fuel transaction, so a QR can never authorise twice.
CREATE TABLE transaction.qr_codes (
  qr_code_id      uuid PRIMARY KEY,
  driver_id       uuid NOT NULL,
  payload         text NOT NULL,
  fuel_type       integer NOT NULL DEFAULT 0,
  max_amount      bigint CHECK (max_amount IS NULL OR max_amount > 0),
  currency        text,
  station_id      uuid,
  status          text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE','USED')),
  expire_time     timestamptz NOT NULL,
  create_time     timestamptz NOT NULL,
  use_time        timestamptz,
  transaction_id  uuid UNIQUE,
  CHECK ((max_amount IS NULL) = (currency IS NULL))
);
CREATE INDEX qr_codes_driver ON transaction.qr_codes (driver_id, create_time DESC);

CREATE TABLE transaction.transactions (
  transaction_id       uuid PRIMARY KEY,
  -- Internal state; the public status is derived from it (state.ts).
  state                text NOT NULL CHECK (state IN
                         ('PENDING','AUTHORIZED','DECLINED','CAPTURING','CAPTURED','SETTLED','VOIDING','VOIDED','EXPIRED')),
  driver_id            uuid NOT NULL,
  agency_id            uuid,
  bank_id              uuid,
  credit_line_id       uuid,
  station_id           uuid NOT NULL,
  merchant_id          uuid NOT NULL,
  pump_id              text NOT NULL DEFAULT '',
  qr_code_id           uuid NOT NULL UNIQUE REFERENCES transaction.qr_codes(qr_code_id),
  fuel_type            integer NOT NULL,
  currency             text NOT NULL,
  requested_amount     bigint NOT NULL CHECK (requested_amount > 0),
  approved_amount      bigint NOT NULL DEFAULT 0 CHECK (approved_amount >= 0 AND approved_amount <= requested_amount),
  partially_approved   boolean NOT NULL DEFAULT false,
  decline_reason       integer NOT NULL DEFAULT 0,
  hold_id              uuid UNIQUE,
  hold_expire_time     timestamptz,
  -- The exact CreditService.Hold request (protobuf binary): a retry re-sends it byte for
  -- byte, so CreditService recognises it and returns the one hold of this transaction.
  hold_request         bytea NOT NULL,
  authorized_price     bigint NOT NULL CHECK (authorized_price > 0),
  approved_volume_ml   bigint NOT NULL DEFAULT 0,
  settled_volume_ml    bigint NOT NULL DEFAULT 0,
  settled_price        bigint NOT NULL DEFAULT 0,
  settled_amount       bigint CHECK (settled_amount IS NULL OR (settled_amount >= 0 AND settled_amount <= approved_amount)),
  released_amount      bigint,
  loan_id              uuid,
  terminal_reference   text NOT NULL DEFAULT '',
  void_reason          text NOT NULL DEFAULT '',
  create_time          timestamptz NOT NULL,
  authorize_time       timestamptz,
  settle_time          timestamptz,
  cancel_time          timestamptz,
  update_time          timestamptz NOT NULL,
  -- When the sweeper may pick the row up if it is still in an intermediate state.
  recover_after        timestamptz,
  recover_attempts     integer NOT NULL DEFAULT 0,
  CHECK (state <> 'DECLINED' OR (hold_id IS NULL AND approved_amount = 0)),
  CHECK (state NOT IN ('AUTHORIZED','CAPTURING','CAPTURED','SETTLED','VOIDING','VOIDED') OR hold_id IS NOT NULL),
  CHECK (state NOT IN ('CAPTURING','CAPTURED','SETTLED') OR settled_amount IS NOT NULL)
);
CREATE INDEX transactions_created ON transaction.transactions (create_time DESC, transaction_id DESC);
CREATE INDEX transactions_driver ON transaction.transactions (driver_id, create_time DESC);
CREATE INDEX transactions_agency ON transaction.transactions (agency_id, create_time DESC) WHERE agency_id IS NOT NULL;
CREATE INDEX transactions_station ON transaction.transactions (station_id, create_time DESC);
CREATE INDEX transactions_merchant ON transaction.transactions (merchant_id, create_time DESC);
CREATE INDEX transactions_bank ON transaction.transactions (bank_id, create_time DESC) WHERE bank_id IS NOT NULL;
CREATE INDEX transactions_line ON transaction.transactions (credit_line_id, create_time DESC) WHERE credit_line_id IS NOT NULL;
-- The sweeper's work list: only unfinished rows, and authorised ones (hold expiry).
CREATE INDEX transactions_recovery ON transaction.transactions (recover_after)
  WHERE state IN ('PENDING','CAPTURING','CAPTURED','VOIDING','AUTHORIZED');

-- Down Migration
DROP TABLE transaction.transactions;
DROP TABLE transaction.qr_codes;
DROP TABLE transaction.idempotency_keys;
