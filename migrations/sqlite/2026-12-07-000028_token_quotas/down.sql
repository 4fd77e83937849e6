DROP TABLE token_quotas;
