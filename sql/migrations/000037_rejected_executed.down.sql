CREATE INDEX IF NOT EXISTS provisioning_requests_rejected ON provisioning_requests (executed_date)
    WHERE life_cycle_state = 'REJECTED';
DROP INDEX IF EXISTS provisioning_requests_rejected_executed;
