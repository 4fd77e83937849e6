-- A deleted account (SPEC §9, src/ops/admin.rs::delete_account) stays as an anonymised row,
-- so what it made in projects keeps its author and the log keeps its history; it is listed
-- nowhere and can do nothing.
ALTER TABLE users ADD COLUMN deleted_at TIMESTAMP;
