-- The token hash as its 32 raw bytes instead of 64 hex characters: half the index, and the
-- type says what it is. SQLite cannot change a column's type, so the table is rebuilt
-- (nothing references api_tokens).
CREATE TABLE api_tokens_new (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    -- BLAKE3 of the whole plaintext token, 32 bytes; the plaintext is never stored.
    token_hash BLOB NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    -- Comma-separated scope names, e.g. "publish,messages".
    scopes TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    revoked_at TIMESTAMP,
    last_used_at TIMESTAMP,
    last_used_ip TEXT
);
INSERT INTO api_tokens_new
SELECT id, user_id, name, unhex(token_hash), prefix, scopes, created_at, expires_at,
       revoked_at, last_used_at, last_used_ip
FROM api_tokens;
DROP TABLE api_tokens;
ALTER TABLE api_tokens_new RENAME TO api_tokens;
CREATE INDEX api_tokens_user_id ON api_tokens (user_id);
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (user_id, name) WHERE revoked_at IS NULL;
