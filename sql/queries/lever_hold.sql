-- Holds requests $1 (ids, locked by lever_lock.sql) at $2 for operator $3, reason $4.
-- The stale claimed_by of an expired lease is cleared: a run that lost its lease
-- writes nothing back (write_back.sql's guard).
UPDATE provisioning_requests
SET held_at = $2, held_by = $3, held_reason = NULLIF($4, ''),
    claimed_by = NULL, lease_expires_at = NULL, updated_at = $2
WHERE id = ANY ($1::bigint[])
RETURNING number
