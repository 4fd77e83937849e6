-- The token cache's coordination on PostgreSQL (src/db/cache_lease.rs). Each instance holds a
-- lease while its change listener is connected, and may use its cache only within it. An
-- answer to a change waits until every live lease holder acknowledged having emptied its
-- cache (or had emptied it since, or lost its lease).
CREATE TABLE cache_leases (
    instance TEXT PRIMARY KEY NOT NULL,
    lease_until TIMESTAMPTZ NOT NULL,
    -- When this instance last emptied its cache while listening: changes settled before
    -- that need no acknowledgement from it.
    cleared_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE cache_acks (
    marker TEXT NOT NULL,
    instance TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (marker, instance)
);

-- Whoever changes what the bearer path caches (the app, a CLI, a console session), every
-- listener hears of it and empties its cache. The channel is the schema's, so databases
-- shared by several schemas (the tests) do not hear each other.
CREATE FUNCTION mantel_token_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mantel_tokens_' || current_schema(), 'changed');
    RETURN NULL;
END
$$;

CREATE TRIGGER api_tokens_changed
    AFTER UPDATE OF user_id, token_hash, scopes, expires_at, revoked_at, revoked_reason,
        replaced_by, narrowing OR DELETE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION mantel_token_changed();

CREATE TRIGGER users_changed AFTER UPDATE OR DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION mantel_token_changed();
