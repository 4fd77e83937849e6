-- SQLite's caches learn of changes from `cache_generation` (see migrations/sqlite); on
-- PostgreSQL the triggers of 2026-12-06-000012_cache_leases notify the listeners, and already
-- leave a token's last use out. Nothing to do here: the two histories keep the same names.
SELECT 1;
