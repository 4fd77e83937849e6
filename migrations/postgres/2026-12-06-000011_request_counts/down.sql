ALTER TABLE token_requests DROP COLUMN count;
