-- Up Migration
-- A bank's credit programs: the third level of every hold (driver line → agency line →
-- program). A program's counters live on a ledger line of its own (owner_kind PROGRAM,
-- owner_id = line_id = the program's id), so its cap changes, holds, captures, releases
-- and repayments are balanced postings like any line's, and VerifyLedger checks it.
ALTER TABLE credit.lines DROP CONSTRAINT lines_owner_kind_check;
ALTER TABLE credit.lines ADD CONSTRAINT lines_owner_kind_check CHECK (owner_kind IN ('AGENCY', 'DRIVER', 'PROGRAM'));

-- The program a line lends under. Set on root lines by CreateCreditLine and copied to
-- sub-lines from their parent, so a hold finds all three levels from the driver's row.
ALTER TABLE credit.lines ADD COLUMN program_id uuid REFERENCES credit.lines (line_id);
ALTER TABLE credit.lines ADD CONSTRAINT lines_program_is_top CHECK (owner_kind <> 'PROGRAM' OR (program_id IS NULL AND parent_id IS NULL));
CREATE INDEX lines_program ON credit.lines (program_id) WHERE program_id IS NOT NULL;

-- The program line a hold reserved on, so its resolution releases the same three levels.
ALTER TABLE credit.holds ADD COLUMN program_line_id uuid REFERENCES credit.lines (line_id);

-- What a program is beside its counters.
CREATE TABLE credit.programs (
  program_id   uuid PRIMARY KEY REFERENCES credit.lines (line_id),
  bank_id      uuid NOT NULL,
  name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 120),
  created_by   text NOT NULL,
  create_time  timestamptz NOT NULL
);
CREATE INDEX programs_bank ON credit.programs (bank_id, create_time DESC, program_id DESC);
CREATE INDEX programs_newest ON credit.programs (create_time DESC, program_id DESC);

-- Down Migration
DROP TABLE credit.programs;
ALTER TABLE credit.holds DROP COLUMN program_line_id;
ALTER TABLE credit.lines DROP CONSTRAINT lines_program_is_top;
ALTER TABLE credit.lines DROP COLUMN program_id;
DELETE FROM credit.lines WHERE owner_kind = 'PROGRAM';
ALTER TABLE credit.lines DROP CONSTRAINT lines_owner_kind_check;
ALTER TABLE credit.lines ADD CONSTRAINT lines_owner_kind_check CHECK (owner_kind IN ('AGENCY', 'DRIVER'));
