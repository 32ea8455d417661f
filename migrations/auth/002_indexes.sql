-- Up Migration
-- DisableUser revokes every refresh token of a user at once
-- (partial index: only live tokens matter).
CREATE INDEX refresh_tokens_user ON auth.refresh_tokens (user_id) WHERE NOT revoked;

-- Down Migration
DROP INDEX auth.refresh_tokens_user;
