DROP INDEX outbox_failed;
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL;
ALTER TABLE outbox DROP COLUMN failed_at;
ALTER TABLE users DROP COLUMN undeliverable_email;
