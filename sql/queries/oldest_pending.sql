-- The due PENDING request that has waited longest at $1 (now): since its scheduled
-- date, or its creation if later. Due as in queue_counts.sql: claimable now (no lease
-- holding it, not held, no backoff, its date come) and the head of its card's queue, which is
-- what the claim takes. None when nothing is due. The pending requests are sorted by
-- card once (the window), rather than probed one by one (see queue_counts.sql).
SELECT number, due_since, attempts, error_code
FROM (
    SELECT number, sequence_number, greatest(scheduled_date, created_at) AS due_since, attempts,
           coalesce(error_code, '') AS error_code,
           scheduled_date <= $1 AND NOT coalesce(lease_expires_at > $1, false) AND held_at IS NULL
               AND NOT coalesce(next_attempt_at > $1, false) AS ready,
           sequence_number = first_value(sequence_number) OVER card AS head
    FROM provisioning_requests
    WHERE life_cycle_state = 'PENDING'
    WINDOW card AS (PARTITION BY smartcard_ca_id ORDER BY sequence_number)
) p
WHERE ready AND head
ORDER BY due_since, sequence_number
LIMIT 1
