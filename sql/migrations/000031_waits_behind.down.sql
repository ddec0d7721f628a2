CREATE INDEX IF NOT EXISTS provisioning_requests_claim_due
    ON provisioning_requests ((priority = 'REGULAR'), sequence_number, greatest(scheduled_date, next_attempt_at))
    WHERE life_cycle_state = 'PENDING';
DROP INDEX IF EXISTS provisioning_requests_claim_next;
ALTER TABLE provisioning_requests DROP COLUMN IF EXISTS waits_behind;
