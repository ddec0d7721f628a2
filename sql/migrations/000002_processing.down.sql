DROP INDEX provisioning_requests_card_queue;
DROP INDEX provisioning_requests_claim;
ALTER TABLE provisioning_requests
    DROP COLUMN lease_expires_at, DROP COLUMN claimed_by, DROP COLUMN next_attempt_at, DROP COLUMN attempts;
DROP TABLE processes;
