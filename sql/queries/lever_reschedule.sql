-- Reschedules requests $1 (ids, locked by lever_lock.sql) at $2 to $3: not sent
-- before $3. A backoff after an unsettled send is cleared too: the operator's time
-- is the one that counts.
UPDATE provisioning_requests
SET scheduled_date = $3, next_attempt_at = NULL,
    claimed_by = NULL, lease_expires_at = NULL, updated_at = $2
WHERE id = ANY ($1::bigint[])
RETURNING number
