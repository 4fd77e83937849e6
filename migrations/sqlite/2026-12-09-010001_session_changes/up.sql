-- On PostgreSQL sessions now notify the caches' listeners (see migrations/postgres); SQLite's
-- caches already learn of every session change from `cache_generation` (2026-12-08-120001).
-- Nothing to do here: the two histories keep the same names.
SELECT 1;
