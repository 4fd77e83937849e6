ALTER TABLE api_tokens DROP COLUMN expiry;
ALTER TABLE api_tokens DROP COLUMN rotated_from;
ALTER TABLE api_tokens DROP COLUMN replaced_by;
ALTER TABLE api_tokens DROP COLUMN revoked_reason;
