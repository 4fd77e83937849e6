-- Per-token activity (SPEC §8.3), written in batches off the request path and kept 90 days.
-- Every bearer request whose token was identified (working or not) is a row; a token that
-- never existed is counted in the metrics only.
CREATE TABLE token_requests (
    id BIGSERIAL PRIMARY KEY,
    token_id TEXT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    at TIMESTAMP NOT NULL,
    method TEXT NOT NULL,
    -- The route template ("/api/projects/{id}/files"), never the raw path.
    route TEXT NOT NULL,
    status INTEGER NOT NULL,
    ip TEXT,
    user_agent TEXT,
    -- ok | denied | revoked | expired | replaced
    outcome TEXT NOT NULL,
    -- The project a project route named, for the project owners' access page.
    project_id TEXT
);
-- The token page's latest requests and its "presented since it was revoked" count.
CREATE INDEX token_requests_token_at ON token_requests (token_id, at);
-- The project access page: the last 30 days of one project.
CREATE INDEX token_requests_project_at ON token_requests (project_id, at) WHERE project_id IS NOT NULL;
-- The 90-day retention sweep.
CREATE INDEX token_requests_at ON token_requests (at);

-- Each address a token was used from: kept up to date by each batch, so the token page reads
-- a few rows, not the requests.
CREATE TABLE token_addresses (
    token_id TEXT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    ip TEXT NOT NULL,
    first_seen_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (token_id, ip)
);

-- Requests a day per token (the chart), and how many were not recorded because the queue
-- was full.
CREATE TABLE token_daily (
    token_id TEXT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    day TEXT NOT NULL,
    count BIGINT NOT NULL,
    unrecorded BIGINT NOT NULL,
    PRIMARY KEY (token_id, day)
);
