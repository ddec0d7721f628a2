-- Cancels requests $1 (ids, locked by lever_lock.sql) at $2: REJECTED with
-- E_CANCELLED and description $3 (who and why). No answer is stored, so a retry keeps
-- the request's command_id (ops/retry.go): it may have been sent before, unsettled.
-- A hold ends with it.
--
-- The request right after each one cancelled (the first PENDING one of its card that
-- is not cancelled too) loses its mark of waiting behind another (waits_behind,
-- migration 000031; write_back.sql says why each clears the one after it): if the
-- cancelled one was its card's head, that request is the head now. Read in this
-- statement's snapshot, taken after lever_lock.sql locked the requests cancelled.
WITH next_up AS (
    UPDATE provisioning_requests n
    SET waits_behind = false
    FROM provisioning_requests c
    CROSS JOIN LATERAL (
        SELECT p.id, p.waits_behind FROM provisioning_requests p
        WHERE p.smartcard_ca_id = c.smartcard_ca_id AND p.life_cycle_state = 'PENDING'
          AND p.sequence_number > c.sequence_number AND p.id <> ALL ($1::bigint[])
        ORDER BY p.sequence_number
        LIMIT 1
    ) x
    WHERE c.id = ANY ($1::bigint[]) AND x.waits_behind AND n.id = x.id
)
UPDATE provisioning_requests
SET life_cycle_state = 'REJECTED', error_code = 'E_CANCELLED', error_description = $3,
    executed_date = $2, next_attempt_at = NULL,
    held_at = NULL, held_by = NULL, held_reason = NULL,
    claimed_by = NULL, lease_expires_at = NULL, updated_at = $2
WHERE id = ANY ($1::bigint[])
RETURNING number
