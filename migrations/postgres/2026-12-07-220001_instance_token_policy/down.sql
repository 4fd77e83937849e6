DROP TABLE instance_token_policy;
