-- The throttles of SPEC §3 (login, current password, sign-up, member additions, leak
-- reports), counted here so that every instance on this database shares them
-- (src/auth/throttle.rs). One row per key: its current window's end (Unix milliseconds) and
-- the attempts counted in it. The key is a keyed BLAKE3 hash of the throttle's name and what
-- it counts (an email, an address, an account): nothing here names anyone.
CREATE TABLE throttle_counts (
    key BLOB PRIMARY KEY NOT NULL,
    until_ms BIGINT NOT NULL,
    count BIGINT NOT NULL
);

-- The sweep deletes ended windows.
CREATE INDEX throttle_counts_until ON throttle_counts (until_ms);
