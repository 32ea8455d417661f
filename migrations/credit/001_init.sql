-- Up Migration
-- CreditService schema: bank credit policies, risk assessments, credit lines (agency →
-- driver hierarchy), holds, and the double-entry ledger behind every line's counters.
--
-- Each line has four ledger accounts: LIMIT (= −limit), AVAILABLE, HELD, USED, whose
-- balances sum to zero. The row's cached counters (limit_minor, held, used) are changed
-- only together with a balanced journal entry in the same transaction; VerifyLedger
-- recomputes them from the postings. Amounts are bigint minor units.

-- The Postgres guard behind idempotency keys for methods that move money (pg-guard.ts).
CREATE TABLE credit.idempotency_keys (
  scope         text,
  key           text,
  request_hash  text NOT NULL,
  response      bytea,
  create_time   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scope, key)
);

-- A bank's largest limit per risk category, per currency. NULL = category not lent to.
CREATE TABLE credit.policies (
  bank_id      uuid NOT NULL,
  currency     text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  max_low      bigint CHECK (max_low >= 0),
  max_medium   bigint CHECK (max_medium >= 0),
  max_high     bigint CHECK (max_high >= 0),
  version      bigint NOT NULL CHECK (version >= 1),
  updated_by   text NOT NULL,
  update_time  timestamptz NOT NULL,
  PRIMARY KEY (bank_id, currency)
);

-- Every scorecard run, immutable. `body` is the fuel.credit.v1.RiskAssessment message.
CREATE TABLE credit.assessments (
  assessment_id         uuid PRIMARY KEY,
  subject_kind          text NOT NULL CHECK (subject_kind IN ('DRIVER','AGENCY')),
  subject_id            uuid NOT NULL,
  category              smallint NOT NULL,
  requested_by_bank_id  uuid,
  assess_time           timestamptz NOT NULL,
  body                  bytea NOT NULL
);
CREATE INDEX assessments_subject ON credit.assessments (subject_kind, subject_id, assess_time DESC, assessment_id DESC);

CREATE TABLE credit.lines (
  line_id             uuid PRIMARY KEY,
  bank_id             uuid NOT NULL,
  owner_kind          text NOT NULL CHECK (owner_kind IN ('AGENCY','DRIVER')),
  owner_id            uuid NOT NULL,
  parent_id           uuid REFERENCES credit.lines (line_id),
  parent_agency_id    uuid,
  currency            text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  status              text NOT NULL CHECK (status IN ('ACTIVE','FROZEN','CLOSED')),
  limit_minor         bigint NOT NULL CHECK (limit_minor >= 0),
  held                bigint NOT NULL DEFAULT 0 CHECK (held >= 0),
  used                bigint NOT NULL DEFAULT 0 CHECK (used >= 0),
  sub_limit           bigint CHECK (sub_limit >= 0),
  limit_source        smallint NOT NULL,
  risk_assessment_id  uuid,
  risk_category       smallint NOT NULL DEFAULT 0,
  override_reason     text NOT NULL DEFAULT '',
  -- fuel.credit.v1.SpendingControls, NULL when none; `daily_controls` says whether they
  -- need today's totals (the hot path skips that read otherwise).
  controls            bytea,
  daily_controls      boolean NOT NULL DEFAULT false,
  version             bigint NOT NULL DEFAULT 1,
  status_reason       text NOT NULL DEFAULT '',
  -- Who froze the line: BANK (bank or system admin) or AGENCY; an agency cannot lift a bank's freeze.
  frozen_by           text CHECK (frozen_by IN ('BANK','AGENCY')),
  create_time         timestamptz NOT NULL,
  update_time         timestamptz NOT NULL,
  close_time          timestamptz,
  CHECK ((parent_id IS NULL) = (parent_agency_id IS NULL)),
  CHECK (parent_id IS NULL OR owner_kind = 'DRIVER'),
  CHECK (parent_id IS NOT NULL OR sub_limit IS NULL)
);
-- An owner has at most one open (ACTIVE or FROZEN) line.
CREATE UNIQUE INDEX lines_one_open_per_owner ON credit.lines (owner_kind, owner_id) WHERE status <> 'CLOSED';
CREATE INDEX lines_newest ON credit.lines (create_time DESC, line_id DESC);
CREATE INDEX lines_bank ON credit.lines (bank_id, create_time DESC, line_id DESC);
CREATE INDEX lines_parent ON credit.lines (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX lines_parent_agency ON credit.lines (parent_agency_id) WHERE parent_agency_id IS NOT NULL;

-- Two-phase reservations. PENDING → exactly one of CAPTURED, VOIDED, EXPIRED.
CREATE TABLE credit.holds (
  hold_id           uuid PRIMARY KEY,
  line_id           uuid NOT NULL REFERENCES credit.lines (line_id),
  parent_line_id    uuid REFERENCES credit.lines (line_id),
  driver_id         uuid NOT NULL,
  transaction_id    uuid NOT NULL UNIQUE,
  request_hash      text NOT NULL,
  status            text NOT NULL CHECK (status IN ('PENDING','CAPTURED','VOIDED','EXPIRED')),
  currency          text NOT NULL,
  amount            bigint NOT NULL CHECK (amount > 0),
  requested_amount  bigint NOT NULL CHECK (requested_amount >= amount),
  captured_amount   bigint NOT NULL DEFAULT 0 CHECK (captured_amount >= 0),
  released_amount   bigint NOT NULL DEFAULT 0 CHECK (released_amount >= 0),
  station_id        uuid,
  merchant_id       uuid,
  fuel_type         smallint NOT NULL,
  expire_time       timestamptz NOT NULL,
  create_time       timestamptz NOT NULL,
  resolve_time      timestamptz,
  hold_entry_id     uuid NOT NULL,
  resolve_entry_id  uuid,
  CHECK (captured_amount + released_amount = CASE WHEN status = 'PENDING' THEN 0 ELSE amount END),
  CHECK ((status = 'PENDING') = (resolve_entry_id IS NULL))
);
CREATE INDEX holds_pending_expiry ON credit.holds (expire_time) WHERE status = 'PENDING';
CREATE INDEX holds_line_day ON credit.holds (line_id, create_time);
CREATE INDEX holds_parent_day ON credit.holds (parent_line_id, create_time) WHERE parent_line_id IS NOT NULL;

-- The journal: one balanced entry per movement; postings sum to zero (checked in code
-- before writing, and by VerifyLedger).
CREATE TABLE credit.journal_entries (
  entry_id        uuid PRIMARY KEY,
  kind            smallint NOT NULL CHECK (kind BETWEEN 1 AND 6),
  currency        text NOT NULL,
  hold_id         uuid,
  transaction_id  uuid,
  loan_id         uuid,
  repayment_id    uuid,
  description     text NOT NULL DEFAULT '',
  actor_id        text NOT NULL DEFAULT '',
  create_time     timestamptz NOT NULL
);
-- One REPAYMENT entry per loan repayment: RestoreCredit restores each repayment once.
CREATE UNIQUE INDEX journal_one_restore_per_repayment ON credit.journal_entries (repayment_id) WHERE repayment_id IS NOT NULL;
CREATE INDEX journal_hold ON credit.journal_entries (hold_id) WHERE hold_id IS NOT NULL;

CREATE TABLE credit.postings (
  entry_id  uuid NOT NULL REFERENCES credit.journal_entries (entry_id),
  seq       smallint NOT NULL,
  line_id   uuid NOT NULL,
  account   smallint NOT NULL CHECK (account BETWEEN 1 AND 4),
  amount    bigint NOT NULL,
  PRIMARY KEY (entry_id, seq)
);
CREATE INDEX postings_line ON credit.postings (line_id, entry_id);

-- Down Migration
DROP TABLE credit.postings;
DROP TABLE credit.journal_entries;
DROP TABLE credit.holds;
DROP TABLE credit.lines;
DROP TABLE credit.assessments;
DROP TABLE credit.policies;
DROP TABLE credit.idempotency_keys;
