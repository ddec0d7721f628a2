-- Deletes up to $2 finished requests (COMPLETED or REJECTED) executed, or last
-- changed, more than $1 seconds ago, and their sends' history (request_attempts) in
-- the same statement: no foreign key cascades (see migration 000050), and each
-- request's attempts are found through request_attempts_request. In slices, so that
-- no statement holds locks long. Returns how many requests it deleted.
WITH gone AS (
    DELETE FROM provisioning_requests
    WHERE id IN (
        SELECT id FROM provisioning_requests
        WHERE life_cycle_state IN ('COMPLETED', 'REJECTED')
          AND coalesce(executed_date, updated_at) < now() - make_interval(secs => $1)
        LIMIT $2
    )
    RETURNING id
),
attempts AS (
    DELETE FROM request_attempts a
    USING gone
    WHERE a.request_id = gone.id
)
SELECT count(*) FROM gone
