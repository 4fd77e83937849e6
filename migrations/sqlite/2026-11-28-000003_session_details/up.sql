-- What the sessions page (/settings/sessions) shows of each signed-in browser.
-- `public_id` names a session in URLs; `id` (a hash of the cookie's key) never leaves the server.
ALTER TABLE sessions ADD COLUMN public_id TEXT;
ALTER TABLE sessions ADD COLUMN ip TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN last_seen_at TIMESTAMP;
CREATE UNIQUE INDEX sessions_public_id ON sessions (public_id);
