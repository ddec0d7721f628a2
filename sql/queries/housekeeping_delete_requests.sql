-- Deletes up to $2 finished requests (COMPLETED or REJECTED) executed, or last
-- changed, more than $1 seconds ago. In slices, so that no statement holds locks long.
DELETE FROM provisioning_requests
WHERE id IN (
    SELECT id FROM provisioning_requests
    WHERE life_cycle_state IN ('COMPLETED', 'REJECTED')
      AND coalesce(executed_date, updated_at) < now() - make_interval(secs => $1)
    LIMIT $2
)
