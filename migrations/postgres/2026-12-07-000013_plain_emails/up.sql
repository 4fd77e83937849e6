-- An email is one plain address (SPEC §3, `src/domain/email.rs`). Accounts signed up before
-- the rule may hold a display name, brackets, an encoded word or a list: Mantel sends them no
-- mail until the address is changed. `undeliverable_email` is the address as it was when
-- flagged; while `email` still equals it, notifications are shown in the dashboard only.
ALTER TABLE users ADD COLUMN undeliverable_email TEXT;

-- The same rule as `Email::parse`, as one regular expression: a dot-atom local part of at most
-- 64 characters without an encoded word `=?`, `@`, two or more labels of letters, digits and
-- inner hyphens (at most 63 characters each), the last starting with a letter; at most 254 in
-- all. Should SQL and Rust ever differ, the sender parses every recipient with `Email::parse`
-- again and marks a mail it refuses as failed, without sending it.
UPDATE users SET undeliverable_email = email
WHERE email !~ ('^[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+)*'
                || '@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+'
                || '[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$')
   OR email ~ '=\?'
   OR length(email) > 254
   OR length(split_part(email, '@', 1)) > 64;

-- A mail the SMTP server refused for good (5xx), that no rule could address, or that kept
-- failing for 3 days: never tried again, and counted in `/metrics`.
ALTER TABLE outbox ADD COLUMN failed_at TIMESTAMP;
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_failed ON outbox (failed_at) WHERE failed_at IS NOT NULL;
