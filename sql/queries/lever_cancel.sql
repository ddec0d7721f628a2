-- Cancels requests $1 (ids, locked by lever_lock.sql) at $2: REJECTED with
-- E_CANCELLED and description $3 (who and why). No answer is stored, so a retry keeps
-- the request's command_id (ops/retry.go): it may have been sent before, unsettled.
-- A hold ends with it.
UPDATE provisioning_requests
SET life_cycle_state = 'REJECTED', error_code = 'E_CANCELLED', error_description = $3,
    executed_date = $2, next_attempt_at = NULL,
    held_at = NULL, held_by = NULL, held_reason = NULL,
    claimed_by = NULL, lease_expires_at = NULL, updated_at = $2
WHERE id = ANY ($1::bigint[])
RETURNING number
