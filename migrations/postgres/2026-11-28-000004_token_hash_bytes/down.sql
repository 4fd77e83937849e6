ALTER TABLE api_tokens ALTER COLUMN token_hash TYPE TEXT USING encode(token_hash, 'hex');
