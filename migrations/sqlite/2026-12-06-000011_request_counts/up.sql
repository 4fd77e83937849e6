-- Identical requests of one token within the same second (same method, route, status,
-- address, user agent, outcome and project) are one row with their count: a client polling
-- in a loop writes a row a second, not a row a request (docs/benchmarks.md, "Token activity").
ALTER TABLE token_requests ADD COLUMN count BIGINT NOT NULL DEFAULT 1;
