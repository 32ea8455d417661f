-- Up Migration
-- AuthService schema: users and roles, signing keys, refresh-token families, machine
-- credentials. Phones are unique per user; OTP codes never touch Postgres (Redis only).

CREATE TABLE auth.users (
  user_id       uuid PRIMARY KEY,
  phone         text NOT NULL UNIQUE,
  display_name  text NOT NULL,
  role          text NOT NULL CHECK (role IN ('DRIVER','AGENCY_ADMIN','BANK_ADMIN','MERCHANT_ADMIN','SYSTEM_ADMIN')),
  agency_id     uuid,
  bank_id       uuid,
  merchant_id   uuid,
  driver_id     uuid UNIQUE,
  active        boolean NOT NULL DEFAULT true,
  created_by    text NOT NULL,
  create_time   timestamptz NOT NULL DEFAULT now(),
  CHECK (role <> 'AGENCY_ADMIN' OR agency_id IS NOT NULL),
  CHECK (role <> 'BANK_ADMIN' OR bank_id IS NOT NULL),
  CHECK (role <> 'MERCHANT_ADMIN' OR merchant_id IS NOT NULL),
  CHECK (role <> 'DRIVER' OR driver_id IS NOT NULL)
);
CREATE INDEX users_create_time ON auth.users (create_time DESC, user_id DESC);

-- ES256 signing keys. The newest active key signs; retired keys stay published until
-- every token they signed has expired.
CREATE TABLE auth.signing_keys (
  kid          text PRIMARY KEY,
  private_jwk  jsonb NOT NULL,
  public_jwk   jsonb NOT NULL,
  create_time  timestamptz NOT NULL DEFAULT now(),
  retire_time  timestamptz
);

-- Refresh tokens rotate within a family; presenting a spent token revokes the family.
CREATE TABLE auth.refresh_tokens (
  token_hash    text PRIMARY KEY,
  family_id     uuid NOT NULL,
  user_id       uuid NOT NULL REFERENCES auth.users(user_id),
  spent         boolean NOT NULL DEFAULT false,
  revoked       boolean NOT NULL DEFAULT false,
  expire_time   timestamptz NOT NULL,
  create_time   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family ON auth.refresh_tokens (family_id);

CREATE TABLE auth.machine_credentials (
  client_id     text PRIMARY KEY,
  secret_hash   text NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('POS_TERMINAL','BANK_SYSTEM')),
  station_id    uuid,
  merchant_id   uuid,
  bank_id       uuid,
  label         text NOT NULL,
  active        boolean NOT NULL DEFAULT true,
  created_by    text NOT NULL,
  create_time   timestamptz NOT NULL DEFAULT now(),
  CHECK (kind <> 'POS_TERMINAL' OR (station_id IS NOT NULL AND merchant_id IS NOT NULL)),
  CHECK (kind <> 'BANK_SYSTEM' OR bank_id IS NOT NULL)
);

-- Down Migration
DROP TABLE auth.machine_credentials;
DROP TABLE auth.refresh_tokens;
DROP TABLE auth.signing_keys;
DROP TABLE auth.users;
