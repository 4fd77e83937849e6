-- A second factor (SPEC §3.1). Whether the account has one, on the user's row: it comes with
-- every token lookup (the owner is joined there), so a project's "members need a second factor"
-- costs the bearer path no query.
ALTER TABLE users ADD COLUMN second_factor BOOLEAN NOT NULL DEFAULT 0;
-- A project's policy: its members' tokens work there only while their account has one.
ALTER TABLE projects ADD COLUMN token_require_second_factor BOOLEAN NOT NULL DEFAULT 0;

-- One TOTP authenticator per account (src/auth/totp.rs). The secret is sealed with AES-256-GCM
-- under a key derived from the server's key, bound to the account: this row alone gives no
-- codes. Pending until a first code confirms it.
CREATE TABLE totp_credentials (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The nonce, then the ciphertext with its tag.
    sealed BLOB NOT NULL,
    created_at TIMESTAMP NOT NULL,
    confirmed_at TIMESTAMP,
    -- The last time step whose code was accepted: a code is good once, and never one older.
    last_step BIGINT
);

-- One-time recovery codes, stored as keyed BLAKE3 hashes (src/auth/totp.rs).
CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BLOB NOT NULL,
    used_at TIMESTAMP,
    PRIMARY KEY (user_id, code_hash)
);
