DROP TRIGGER users_changed ON users;
DROP TRIGGER api_tokens_changed ON api_tokens;
DROP FUNCTION mantel_token_changed();
DROP TABLE cache_acks;
DROP TABLE cache_leases;
