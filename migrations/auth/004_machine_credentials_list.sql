-- Up Migration
-- ListMachineCredentials pages newest first on (create_time, client_id) within the
-- caller's reach: a merchant's terminals, a bank's systems, or everything for an operator.
-- Partial: a terminal has no bank and a bank system no merchant.
CREATE INDEX machine_credentials_merchant ON auth.machine_credentials
  (merchant_id, create_time DESC, client_id DESC) WHERE merchant_id IS NOT NULL;
CREATE INDEX machine_credentials_bank ON auth.machine_credentials
  (bank_id, create_time DESC, client_id DESC) WHERE bank_id IS NOT NULL;
CREATE INDEX machine_credentials_create_time ON auth.machine_credentials (create_time DESC, client_id DESC);

-- Down Migration
DROP INDEX auth.machine_credentials_create_time;
DROP INDEX auth.machine_credentials_bank;
DROP INDEX auth.machine_credentials_merchant;
