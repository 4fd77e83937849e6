-- Sessions join the caches of 2026-12-06-000012_cache_leases (src/db/cache_lease.rs): whoever
-- inserts, changes or deletes a session (the app, a CLI, a console session), every listener
-- hears of it and empties its session caches. The payload `sessions` spares the token caches:
-- a login, an idle expiry's slide or a flash message changes no token. (A change to users
-- already notifies `changed`, which empties both: a cached session holds its user.)
CREATE FUNCTION mantel_session_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mantel_tokens_' || current_schema(), 'sessions');
    RETURN NULL;
END
$$;

CREATE TRIGGER sessions_changed AFTER INSERT OR UPDATE OR DELETE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION mantel_session_changed();
