DROP STATISTICS IF EXISTS provisioning_requests_state_code;
CREATE INDEX IF NOT EXISTS provisioning_requests_error_code ON provisioning_requests (error_code, number) WHERE error_code IS NOT NULL;
DROP INDEX IF EXISTS provisioning_requests_error_code_state;
