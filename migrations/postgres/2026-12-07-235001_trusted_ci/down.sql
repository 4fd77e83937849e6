DROP TABLE ci_token_uses;
DROP TABLE ci_issued_tokens;
DROP TABLE trusted_ci;
