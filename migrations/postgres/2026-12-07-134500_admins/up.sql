-- Instance admins (SPEC §9): set by `mantel user create --admin` and `mantel admin grant`.
ALTER TABLE users ADD COLUMN admin BOOLEAN NOT NULL DEFAULT FALSE;
