-- Tokens revoked because they were reported found in public (SPEC §8.4): who reported each and,
-- for a partner's report, where it was found, to show the owner. One row per token: the report
-- that revoked it (a repeated report changes nothing).
CREATE TABLE token_leak_reports (
    token_id TEXT PRIMARY KEY NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    -- 'public' (POST /api/credentials/revoke), 'github' or 'gitlab'.
    channel TEXT NOT NULL,
    -- The partner's `url` (http or https only) and `source` (GitHub's `commit`, `gist_content` …).
    url TEXT,
    source TEXT,
    reported_at TIMESTAMP NOT NULL
);
