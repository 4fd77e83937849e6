-- Narrower tokens (SPEC §8.5). How a token is narrowed beyond its scopes, on its own row so
-- the bearer hot path reads it with the token (`domain::Narrowing`): `projects=chosen` when it
-- reaches only chosen projects (so one whose chosen projects were all deleted reaches none,
-- never all), `ips=…` its allowed addresses as normalized CIDR ranges (at most 20); empty when
-- it is not narrowed.
ALTER TABLE api_tokens ADD COLUMN narrowing TEXT NOT NULL DEFAULT '';
-- A deleted project drops out of every selection; a deleted token takes its selection along.
CREATE TABLE api_token_projects (
    token_id TEXT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    PRIMARY KEY (token_id, project_id)
);
CREATE INDEX api_token_projects_project_id ON api_token_projects (project_id);
-- A project's token policy (`domain::TokenPolicy`), read with the caller's role on the
-- project's routes: the longest lifetime a token may have there (days; NULL: no limit), and
-- whether only tokens restricted to chosen projects may be used there.
ALTER TABLE projects ADD COLUMN token_max_lifetime_days INTEGER;
ALTER TABLE projects ADD COLUMN token_require_restricted BOOLEAN NOT NULL DEFAULT 0;
