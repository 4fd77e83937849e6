DROP TABLE api_token_projects;
ALTER TABLE api_tokens DROP COLUMN narrowing;
ALTER TABLE projects DROP COLUMN token_require_restricted;
ALTER TABLE projects DROP COLUMN token_max_lifetime_days;
