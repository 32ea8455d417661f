-- Up Migration
-- A driver's user account, as KycService answered it, cached for the outbox relay's
-- notices: one row per driver. Caching it on loan rows locked every loan of the driver
-- for a moment, and an aging run, which skips locked loans, could pass one over.
-- loans.borrower_user_id stays for the release before this one and is no longer written.
CREATE TABLE loan.borrowers (
  driver_id    uuid PRIMARY KEY,
  user_id      uuid NOT NULL,
  create_time  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO loan.borrowers (driver_id, user_id)
  SELECT DISTINCT ON (driver_id) driver_id, borrower_user_id FROM loan.loans
  WHERE borrower_user_id IS NOT NULL ORDER BY driver_id, create_time;

-- Down Migration
DROP TABLE loan.borrowers;
