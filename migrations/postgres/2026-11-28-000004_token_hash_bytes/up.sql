-- The token hash as its 32 raw bytes instead of 64 hex characters: half the index, and the
-- type says what it is.
ALTER TABLE api_tokens ALTER COLUMN token_hash TYPE BYTEA USING decode(token_hash, 'hex');
