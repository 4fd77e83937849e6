-- The per-token quota of SPEC §8.6 for the whole deployment (src/auth/rate_limit.rs): each
-- token's GCRA state, the theoretical arrival time of its next request in Unix nanoseconds.
-- Instances take slices of the quota from here (advancing it by a slice at a time) and spend
-- them in memory; a row whose time has passed is a full bucket, and is swept.
CREATE TABLE token_quotas (
    token_id TEXT PRIMARY KEY NOT NULL,
    tat_ns BIGINT NOT NULL
);

CREATE INDEX token_quotas_tat ON token_quotas (tat_ns);
