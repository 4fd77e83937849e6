DROP TRIGGER sessions_deleted;
DROP TRIGGER sessions_changed;
DROP TRIGGER users_deleted;
DROP TRIGGER users_changed;
DROP TRIGGER api_tokens_deleted;
DROP TRIGGER api_tokens_changed;
DROP TABLE cache_generation;
