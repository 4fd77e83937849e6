-- The instance token policy may require every token's owner to have a second factor (SPEC §9, §3.1).
ALTER TABLE instance_token_policy ADD COLUMN require_second_factor BOOLEAN NOT NULL DEFAULT FALSE;
