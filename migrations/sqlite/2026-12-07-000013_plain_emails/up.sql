-- An email is one plain address (SPEC §3, `src/domain/email.rs`). Accounts signed up before
-- the rule may hold a display name, brackets, an encoded word or a list: Mantel sends them no
-- mail until the address is changed. `undeliverable_email` is the address as it was when
-- flagged; while `email` still equals it, notifications are shown in the dashboard only.
ALTER TABLE users ADD COLUMN undeliverable_email TEXT;

-- The same rule as `Email::parse`, as far as SQLite's GLOB reaches: the pieces below are that
-- function's checks one by one (SQLite has no regular expressions). What SQL might still miss
-- cannot be mailed either: the sender parses every recipient with `Email::parse` again and
-- marks a mail it refuses as failed, without sending it.
UPDATE users SET undeliverable_email = email
WHERE id IN (
    SELECT id FROM (
        SELECT id, email,
               substr(email, 1, instr(email, '@') - 1) AS local,
               substr(email, instr(email, '@') + 1) AS domain
        FROM users
    )
    WHERE
        -- A character outside the rule's: whitespace, control characters, brackets,
        -- parentheses, quotes, commas, semicolons, colons, backslashes, anything not ASCII.
        email GLOB '*[^a-zA-Z0-9.!#$%&''*+/=?^_`{|}~@-]*'
        OR length(email) > 254
        -- Exactly one `@`, something before it.
        OR instr(email, '@') = 0 OR email GLOB '*@*@*' OR local = ''
        -- The local part: a dot-atom of at most 64 characters, no encoded word `=?`.
        OR length(local) > 64
        OR local GLOB '.*' OR local GLOB '*.' OR local GLOB '*..*'
        OR local GLOB '*=[?]*'
        -- The domain: two or more labels of letters, digits and inner hyphens, at most 63
        -- characters each (a run of 64 label characters is too long), the last label
        -- starting with a letter (what `rtrim` leaves ends at its dot).
        OR domain GLOB '*[^a-zA-Z0-9.-]*'
        OR domain NOT GLOB '*.*'
        OR domain GLOB '.*' OR domain GLOB '*.' OR domain GLOB '*..*'
        OR domain GLOB '-*' OR domain GLOB '*-' OR domain GLOB '*.-*' OR domain GLOB '*-.*'
        OR domain GLOB ('*' || replace(hex(zeroblob(64)), '00', '[a-zA-Z0-9-]') || '*')
        OR substr(domain, length(rtrim(domain,
               'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-')) + 1)
           NOT GLOB '[a-zA-Z]*'
);

-- A mail the SMTP server refused for good (5xx), that no rule could address, or that kept
-- failing for 3 days: never tried again, and counted in `/metrics`.
ALTER TABLE outbox ADD COLUMN failed_at TIMESTAMP;
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_failed ON outbox (failed_at) WHERE failed_at IS NOT NULL;
