-- The instance's token policy (SPEC §9, src/domain/instance_policy.rs): at most one row, set
-- by an instance admin; no row is no policy.
CREATE TABLE instance_token_policy (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    max_lifetime_days INTEGER,
    allow_never BOOLEAN NOT NULL,
    max_scopes INTEGER
);
