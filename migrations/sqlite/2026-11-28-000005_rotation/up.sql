-- Rotation (SPEC §8.1). A rotated token keeps working until its grace ends: `revoked_at` may lie
-- in the future, and a token is revoked from the instant `now >= revoked_at`.
ALTER TABLE api_tokens ADD COLUMN revoked_reason TEXT;
ALTER TABLE api_tokens ADD COLUMN replaced_by TEXT;
ALTER TABLE api_tokens ADD COLUMN rotated_from TEXT;
-- The expiry chosen at creation ('1m', '6m', '1y', 'never'), which a rotation repeats.
ALTER TABLE api_tokens ADD COLUMN expiry TEXT;
UPDATE api_tokens SET revoked_reason = 'user' WHERE revoked_at IS NOT NULL;
