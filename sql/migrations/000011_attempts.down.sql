ALTER TABLE provisioning_requests DROP COLUMN first_attempt_at;
DROP TABLE request_attempts;
