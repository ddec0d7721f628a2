DROP INDEX IF EXISTS provisioning_requests_executed;
DROP INDEX IF EXISTS provisioning_requests_created;
DROP INDEX IF EXISTS provisioning_requests_rejected_number;
CREATE INDEX IF NOT EXISTS provisioning_requests_settled ON provisioning_requests (executed_date) INCLUDE (life_cycle_state)
    WHERE life_cycle_state IN ('COMPLETED', 'REJECTED');
