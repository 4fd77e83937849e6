DROP TRIGGER sessions_changed ON sessions;
DROP FUNCTION mantel_session_changed();
