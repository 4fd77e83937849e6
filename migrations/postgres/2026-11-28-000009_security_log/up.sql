-- The account security log (SPEC §8.3): one row for each thing that happened to an account's
-- security (a sign-in, a failed one, a token created or revoked, a project role changed),
-- written in the same transaction as what it records. Kept a year.
CREATE TABLE security_events (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    at TIMESTAMP NOT NULL,
    -- The client's address and user agent (cut to 200 characters); NULL for what the server
    -- did on its own (an expiry, a revocation for disuse).
    ip TEXT,
    user_agent TEXT,
    -- JSON: for a token its id, name and prefix; for a project member the project and the
    -- member's email and role. Never a secret.
    details TEXT NOT NULL
);
-- The log reads newest first by (at, id), all kinds or one kind.
CREATE INDEX security_events_user_at ON security_events (user_id, at, id);
CREATE INDEX security_events_user_kind_at ON security_events (user_id, kind, at, id);
-- The retention sweep deletes by age across every account.
CREATE INDEX security_events_at ON security_events (at);
