-- Deletes the next slice of up to $2 finished requests (COMPLETED or REJECTED)
-- settled more than $1 seconds ago, oldest first, from $3 (the slice before's
-- last executed_date; NULL: from the oldest), and their sends' history
-- (request_attempts) in the same statement: no foreign key cascades (see migration
-- 000011). Returns how many requests it deleted, how many it looked at, and the
-- last executed_date it looked at: the caller goes on from there until a slice
-- comes back short.
--
-- Through provisioning_requests_executed (migration 000019), a range from where
-- the slice before ended: a scan of the table from its start for every slice read
-- the dead rows of every slice deleted before it, and read the whole table to find
-- nothing once all was deleted (seconds per slice on 10 million requests). Every
-- settled request has its executed_date (the write-back and the cancel lever set
-- it); a request put back to PENDING (retry) has none and is not looked at.
-- The state and age are checked again on the rows deleted: a retry that committed
-- in between is seen there. The sends are looked up by the slice's ids as one
-- array, through request_attempts_request: a join with the deleted rows was planned
-- as a hash join over a scan of the whole history (measured: 1.1 s of a 1.8 s slice
-- at 600,000 sends, and growing with them), the array as an index scan.
WITH slice AS (
    SELECT id, executed_date
    FROM provisioning_requests
    WHERE executed_date < now() - make_interval(secs => $1)
      AND ($3::timestamptz IS NULL OR executed_date >= $3::timestamptz)
      AND life_cycle_state IN ('COMPLETED', 'REJECTED')
    ORDER BY executed_date
    LIMIT $2
),
gone AS (
    DELETE FROM provisioning_requests r
    WHERE r.id = ANY ((SELECT array_agg(id) FROM slice)::bigint[])
      AND r.life_cycle_state IN ('COMPLETED', 'REJECTED')
      AND r.executed_date < now() - make_interval(secs => $1)
    RETURNING r.id
),
attempts AS (
    DELETE FROM request_attempts
    WHERE request_id = ANY ((SELECT array_agg(id) FROM gone)::bigint[])
)
SELECT (SELECT count(*) FROM gone) AS deleted, (SELECT count(*) FROM slice) AS seen,
       (SELECT max(executed_date) FROM slice) AS last
