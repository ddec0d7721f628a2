-- The due PENDING request that has waited longest at $1 (now): since its scheduled
-- date, or its creation if later. None when nothing is due. A held request is not
-- due: it waits for its release.
SELECT number, greatest(scheduled_date, created_at) AS due_since, attempts, coalesce(error_code, '') AS error_code
FROM provisioning_requests
WHERE life_cycle_state = 'PENDING' AND scheduled_date <= $1 AND held_at IS NULL
ORDER BY greatest(scheduled_date, created_at), sequence_number
LIMIT 1
