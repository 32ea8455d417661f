-- Up Migration
-- A phone that lost the answer to a refresh presents the same token again. Telling that
-- retry from a stolen copy needs when a token was spent and which token replaced it.
ALTER TABLE auth.refresh_tokens
  ADD COLUMN spent_time  timestamptz,
  ADD COLUMN parent_hash text;
-- A retry finds the successor of the token it presents.
CREATE INDEX refresh_tokens_parent ON auth.refresh_tokens (parent_hash) WHERE parent_hash IS NOT NULL;

-- Down Migration
DROP INDEX auth.refresh_tokens_parent;
ALTER TABLE auth.refresh_tokens DROP COLUMN parent_hash, DROP COLUMN spent_time;
