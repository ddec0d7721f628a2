CREATE INDEX IF NOT EXISTS provisioning_requests_claim ON provisioning_requests ((priority = 'REGULAR'), sequence_number)
    WHERE life_cycle_state = 'PENDING';
DROP INDEX IF EXISTS provisioning_requests_claim_due;
