DROP TABLE api_token_projects;
ALTER TABLE api_tokens DROP COLUMN narrowing;
