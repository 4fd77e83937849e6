DROP TABLE token_daily;
DROP TABLE token_addresses;
DROP TABLE token_requests;
