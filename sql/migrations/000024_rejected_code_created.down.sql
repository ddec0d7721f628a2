CREATE INDEX IF NOT EXISTS provisioning_requests_rejected_number ON provisioning_requests (number)
    WHERE life_cycle_state = 'REJECTED';
DROP INDEX IF EXISTS provisioning_requests_rejected_code_created;
