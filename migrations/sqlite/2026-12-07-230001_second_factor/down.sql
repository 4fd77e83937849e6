DROP TABLE recovery_codes;
DROP TABLE totp_credentials;
ALTER TABLE projects DROP COLUMN token_require_second_factor;
ALTER TABLE users DROP COLUMN second_factor;
