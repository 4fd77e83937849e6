-- Passkeys (WebAuthn, SPEC §3.1; src/auth/webauthn.rs): several per account, each a P-256 public
-- key (SEC1, uncompressed) under the id its authenticator gave it. An account with one has a
-- second factor (the `second_factor` flag on its row, kept by db/models/second_factor.rs).
CREATE TABLE passkeys (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id BYTEA NOT NULL UNIQUE,
    public_key BYTEA NOT NULL,
    -- The authenticator's signature counter: a login whose counter does not go up is refused.
    sign_count BIGINT NOT NULL,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);
CREATE INDEX passkeys_user ON passkeys (user_id);
