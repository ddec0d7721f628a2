-- Gives back requests run $1 claimed but did not send ($2 ids): no attempt is counted.
-- "Not settled" rather than "= 'PENDING'": by id, whatever the statistics say (see
-- claim_requests.sql).
UPDATE provisioning_requests
SET claimed_by = NULL, lease_expires_at = NULL
WHERE id = ANY ($2::bigint[]) AND claimed_by = $1 AND life_cycle_state NOT IN ('COMPLETED', 'REJECTED')
