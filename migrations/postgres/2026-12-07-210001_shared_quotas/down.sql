DELETE FROM quotas WHERE bucket LIKE 'address:%';
DROP INDEX quotas_tat;
ALTER TABLE quotas RENAME COLUMN bucket TO token_id;
ALTER TABLE quotas RENAME TO token_quotas;
CREATE INDEX token_quotas_tat ON token_quotas (tat_ns);
