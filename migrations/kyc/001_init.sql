-- Up Migration
-- KycService schema: organisation and driver profiles, KYC documents and their reviews,
-- and the outbox that notifies owners of review decisions.
-- PII: a driver's national ID and phone are stored as AES-256-GCM ciphertext plus an
-- HMAC "blind index" (for uniqueness and look-up); only their masked forms are plain.

CREATE TABLE kyc.agencies (
  agency_id            uuid PRIMARY KEY,
  name                 text NOT NULL,
  registration_number  text NOT NULL,
  contact_email        text NOT NULL,
  contact_phone        text NOT NULL,
  address              text NOT NULL DEFAULT '',
  fleet_size           integer NOT NULL DEFAULT 0 CHECK (fleet_size BETWEEN 0 AND 100000),
  status               text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE','SUSPENDED')),
  create_time          timestamptz NOT NULL,
  update_time          timestamptz NOT NULL
);
-- Registration numbers are unique regardless of letter case.
CREATE UNIQUE INDEX agencies_registration_number ON kyc.agencies (upper(registration_number));
CREATE INDEX agencies_name ON kyc.agencies (name, agency_id);

CREATE TABLE kyc.banks (
  bank_id      uuid PRIMARY KEY,
  name         text NOT NULL,
  code         text NOT NULL UNIQUE,
  currency     text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  create_time  timestamptz NOT NULL
);
CREATE INDEX banks_name ON kyc.banks (name, bank_id);

CREATE TABLE kyc.merchants (
  merchant_id          uuid PRIMARY KEY,
  name                 text NOT NULL,
  registration_number  text NOT NULL,
  contact_email        text NOT NULL,
  create_time          timestamptz NOT NULL
);
CREATE UNIQUE INDEX merchants_registration_number ON kyc.merchants (upper(registration_number));
CREATE INDEX merchants_name ON kyc.merchants (name, merchant_id);

-- A driver row is created PENDING_USER, then ACTIVE once AuthService has created the
-- driver's user (two steps over the mesh; a retry finds the pending row by phone).
CREATE TABLE kyc.drivers (
  driver_id              uuid PRIMARY KEY,
  seq                    bigserial NOT NULL UNIQUE,
  user_id                uuid UNIQUE,
  full_name              text NOT NULL,
  phone_index            text NOT NULL UNIQUE,
  phone_cipher           bytea NOT NULL,
  phone_masked           text NOT NULL,
  national_id_index      text NOT NULL UNIQUE,
  national_id_cipher     bytea NOT NULL,
  national_id_masked     text NOT NULL,
  driver_license_number  text NOT NULL,
  plate_number           text NOT NULL,
  fuel_type              integer NOT NULL CHECK (fuel_type > 0),
  tank_capacity_ml       bigint NOT NULL CHECK (tank_capacity_ml BETWEEN 1000 AND 2000000),
  make_model             text NOT NULL DEFAULT '',
  agency_id              uuid REFERENCES kyc.agencies(agency_id),
  email                  text NOT NULL DEFAULT '',
  status                 text NOT NULL CHECK (status IN ('PENDING_USER','ACTIVE','SUSPENDED')),
  create_time            timestamptz NOT NULL,
  update_time            timestamptz NOT NULL,
  CHECK (status = 'PENDING_USER' OR user_id IS NOT NULL)
);
CREATE INDEX drivers_agency ON kyc.drivers (agency_id, seq DESC);

CREATE TABLE kyc.documents (
  document_id    uuid PRIMARY KEY,
  -- Upload order: "newest first" and "latest per type" are by seq, never by clock ties.
  seq            bigserial NOT NULL UNIQUE,
  driver_id      uuid REFERENCES kyc.drivers(driver_id),
  agency_id      uuid REFERENCES kyc.agencies(agency_id),
  document_type  integer NOT NULL CHECK (document_type BETWEEN 1 AND 5),
  status         text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING','APPROVED','REJECTED')),
  content_type   text NOT NULL CHECK (content_type IN ('image/jpeg','image/png','application/pdf')),
  size_bytes     bigint NOT NULL CHECK (size_bytes BETWEEN 1 AND 10485760),
  sha256_hex     text NOT NULL CHECK (sha256_hex ~ '^[0-9a-f]{64}$'),
  file_name      text NOT NULL DEFAULT '',
  storage_backend text NOT NULL,
  storage_key    text NOT NULL,
  uploaded_by    text NOT NULL,
  upload_time    timestamptz NOT NULL,
  reviewed_by    text,
  review_time    timestamptz,
  review_reason  text NOT NULL DEFAULT '',
  CHECK ((driver_id IS NULL) <> (agency_id IS NULL)),
  CHECK ((status = 'PENDING') = (reviewed_by IS NULL)),
  CHECK ((status = 'PENDING') = (review_time IS NULL)),
  CHECK (status <> 'REJECTED' OR length(review_reason) >= 3)
);
CREATE INDEX documents_driver ON kyc.documents (driver_id, seq DESC) WHERE driver_id IS NOT NULL;
CREATE INDEX documents_agency ON kyc.documents (agency_id, seq DESC) WHERE agency_id IS NOT NULL;

-- Notifications owed to owners, written in the same transaction as the decision and
-- delivered by the relay worker (at least once; the row id is the idempotency key).
CREATE TABLE kyc.outbox (
  outbox_id        uuid PRIMARY KEY,
  seq              bigserial NOT NULL UNIQUE,
  kind             text NOT NULL,
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
CREATE INDEX outbox_due ON kyc.outbox (next_attempt_at, seq) WHERE delivered_at IS NULL AND dead_at IS NULL;

-- Down Migration
DROP TABLE kyc.outbox;
DROP TABLE kyc.documents;
DROP TABLE kyc.drivers;
DROP TABLE kyc.merchants;
DROP TABLE kyc.banks;
DROP TABLE kyc.agencies;
