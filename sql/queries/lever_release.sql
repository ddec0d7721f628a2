-- Releases held requests $1 (ids, locked by lever_lock.sql) at $2: claimable again
-- when due, in their card's order.
UPDATE provisioning_requests
SET held_at = NULL, held_by = NULL, held_reason = NULL,
    claimed_by = NULL, lease_expires_at = NULL, updated_at = $2
WHERE id = ANY ($1::bigint[])
RETURNING number
