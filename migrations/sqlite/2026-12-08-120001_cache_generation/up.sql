-- What the worker caches of tokens and sessions depend on (src/db/exact_cache.rs) moves this
-- number, in the transaction that changes it, whoever makes the change (the app, another
-- instance, the CLI, a console session). A cache is emptied when it moves, not on every
-- commit: the batches of token activity and last use, a quota's slice, a throttle, commit
-- every second or so and change nothing a cache holds, yet emptied every cache (W3 of
-- scripts/bench, 10 000 tokens round-robin, read each token again after every batch).
CREATE TABLE cache_generation (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    n INTEGER NOT NULL
);
INSERT INTO cache_generation (id, n) VALUES (1, 0);

-- Every column of a token but its last use (`tokens::record_last_used`), which the cache
-- may hold stale: it only spares noting a use that was written less than a minute ago, and
-- the write's own guard keeps it to once a minute. A new column goes in this list.
CREATE TRIGGER api_tokens_changed AFTER UPDATE OF id, user_id, name, token_hash, prefix,
    scopes, created_at, expires_at, revoked_at, revoked_reason, replaced_by, rotated_from,
    expiry, narrowing ON api_tokens
BEGIN
    UPDATE cache_generation SET n = n + 1;
END;
CREATE TRIGGER api_tokens_deleted AFTER DELETE ON api_tokens
BEGIN
    UPDATE cache_generation SET n = n + 1;
END;
CREATE TRIGGER users_changed AFTER UPDATE ON users
BEGIN
    UPDATE cache_generation SET n = n + 1;
END;
CREATE TRIGGER users_deleted AFTER DELETE ON users
BEGIN
    UPDATE cache_generation SET n = n + 1;
END;
CREATE TRIGGER sessions_changed AFTER UPDATE ON sessions
BEGIN
    UPDATE cache_generation SET n = n + 1;
END;
CREATE TRIGGER sessions_deleted AFTER DELETE ON sessions
BEGIN
    UPDATE cache_generation SET n = n + 1;
END;
