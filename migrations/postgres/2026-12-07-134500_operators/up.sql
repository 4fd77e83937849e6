-- Instance admins (SPEC §9): set by `mantel user create --admin` and `mantel admin grant`.
ALTER TABLE users ADD COLUMN admin BOOLEAN NOT NULL DEFAULT FALSE;
-- A suspended account (SPEC §9): no sessions, no logins, every token answers 401. (The
-- users_changed trigger already tells every instance's token cache of the change.)
ALTER TABLE users ADD COLUMN suspended_at TIMESTAMP;
