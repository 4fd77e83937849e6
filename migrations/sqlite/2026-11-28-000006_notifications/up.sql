-- Notifications (SPEC §8.2): one row for each thing a person is told. `dedupe_key` names the
-- occasion ("expiring:7:<token id>", "presented_after_stop:<token id>:<day>"), so however many
-- sweeps, restarts or instances come upon it, it is recorded once.
CREATE TABLE notifications (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_id TEXT REFERENCES api_tokens (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE,
    -- JSON: the token's name and prefix as they were, the days left, the address, the URL.
    details TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    read_at TIMESTAMP
);
CREATE INDEX notifications_user ON notifications (user_id, created_at);
CREATE INDEX notifications_token ON notifications (token_id);

-- Mail to send, written in the same transaction as its notification; a background worker on
-- any instance claims due rows (`claimed_until`), sends them and marks them sent, or retries
-- later with a growing delay.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY NOT NULL,
    notification_id TEXT NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    claimed_until TIMESTAMP,
    sent_at TIMESTAMP,
    last_error TEXT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL;

-- The expiry sweep looks for tokens expiring within 30 days.
CREATE INDEX api_tokens_expires_at ON api_tokens (expires_at);
