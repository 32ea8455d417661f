-- Up Migration
-- GetAgingReport reads a bank's (or an agency's) open loans in loan_id order, page by
-- page; without these it would read every open loan of every bank to find its own.
CREATE INDEX loans_open_bank ON loan.loans (bank_id, loan_id) WHERE status <> 'PAID_OFF';
CREATE INDEX loans_open_agency ON loan.loans (agency_id, loan_id) WHERE status <> 'PAID_OFF' AND agency_id IS NOT NULL;

-- Down Migration
DROP INDEX loan.loans_open_agency;
DROP INDEX loan.loans_open_bank;
