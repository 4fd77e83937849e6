-- The quotas of SPEC §8.6 for the whole deployment (src/auth/rate_limit.rs): not only each
-- token's requests an hour but also each address's bad credentials a minute, so the table
-- names a bucket rather than a token: a token's id, or `address:` and the address's keyed
-- hash (never the address itself).
ALTER TABLE token_quotas RENAME TO quotas;
ALTER TABLE quotas RENAME COLUMN token_id TO bucket;
DROP INDEX token_quotas_tat;
CREATE INDEX quotas_tat ON quotas (tat_ns);
