DROP TABLE token_leak_reports;
