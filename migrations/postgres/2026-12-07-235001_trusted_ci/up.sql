-- Trusted CI (SPEC §8.8): the CI identities a project's owners trust, the tokens minted for
-- them, and the JWT ids already exchanged (single use, across every instance).
CREATE TABLE trusted_ci (
    id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    -- The owner who set it up: the tokens minted under it are theirs, so they can do no more
    -- than that owner may on the project now.
    created_by TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issuer TEXT NOT NULL,
    audience TEXT NOT NULL,
    -- A JSON object of claim name to the exact string required.
    claims TEXT NOT NULL,
    scopes TEXT NOT NULL,
    lifetime_minutes INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX trusted_ci_issuer ON trusted_ci (issuer);
CREATE INDEX trusted_ci_project ON trusted_ci (project_id, created_at);

-- Whom a token minted by the exchange was issued to: the verified issuer, subject and the
-- claims its trust configuration matched.
CREATE TABLE ci_issued_tokens (
    token_id TEXT PRIMARY KEY NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    claims TEXT NOT NULL
);

-- A JWT's `jti` is accepted once until the JWT expires; the row goes after that.
CREATE TABLE ci_token_uses (
    issuer TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (issuer, jti)
);
CREATE INDEX ci_token_uses_expires ON ci_token_uses (expires_at);
