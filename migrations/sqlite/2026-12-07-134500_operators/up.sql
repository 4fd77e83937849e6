-- Instance admins (SPEC §9): set by `mantel user create --admin` and `mantel admin grant`.
ALTER TABLE users ADD COLUMN admin BOOLEAN NOT NULL DEFAULT 0;
-- A suspended account (SPEC §9): no sessions, no logins, every token answers 401.
ALTER TABLE users ADD COLUMN suspended_at TIMESTAMP;
