DROP INDEX provisioning_requests_reference_number;
ALTER TABLE provisioning_requests DROP COLUMN source_token_id;
DROP TABLE api_tokens;
