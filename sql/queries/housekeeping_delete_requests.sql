-- Deletes up to $2 finished requests (COMPLETED or REJECTED) executed, or last
-- changed, more than $1 seconds ago, and their sends' history (request_attempts) in
-- the same statement: no foreign key cascades (see migration 000011). The sends are
-- looked up by the slice's ids as one array, through request_attempts_request: a
-- join with the deleted rows was planned as a hash join over a scan of the whole
-- history (measured: 1.1 s of a 1.8 s slice at 600,000 sends, and growing with
-- them), the array as an index scan (0.5 s, whatever the history's size). In slices,
-- so that no statement holds locks long. Returns how many requests it deleted.
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
    DELETE FROM request_attempts
    WHERE request_id = ANY ((SELECT array_agg(id) FROM gone)::bigint[])
)
SELECT count(*) FROM gone
