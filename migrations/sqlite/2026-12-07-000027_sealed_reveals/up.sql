-- The dashboard's one-time reveal of a new token (src/auth/reveal.rs), readable through any
-- instance: the plaintext sealed with AES-256-GCM under a one-time key that only the browser
-- holds (a short-lived cookie), so this row alone reveals nothing. Deleted on first view;
-- expired rows are swept.
CREATE TABLE sealed_reveals (
    token_id TEXT PRIMARY KEY NOT NULL,
    owner TEXT NOT NULL,
    -- The nonce, then the ciphertext with its tag.
    sealed BLOB NOT NULL,
    -- Unix milliseconds.
    expires_ms BIGINT NOT NULL
);

CREATE INDEX sealed_reveals_expires ON sealed_reveals (expires_ms);
