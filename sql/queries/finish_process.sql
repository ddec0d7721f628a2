-- $1 id, $2 state, $3 claimed, $4 completed, $5 rejected, $6 retried, $7 batches, $8 error;
-- $9 true: commit without waiting for the WAL flush, for the Web API's one-request
-- runs (see claim_request.sql and write_back.sql, which commit so too): a crash
-- within wal_writer_delay of this commit may lose the run's end only, and the run is
-- then marked as a dead one's is (mark_dead_processes.sql, housekeeping).
WITH commit_mode AS MATERIALIZED (
    SELECT set_config('synchronous_commit',
                      CASE WHEN $9::boolean THEN 'off' ELSE current_setting('synchronous_commit') END, true)
)
UPDATE processes
SET state = $2, claimed = $3, completed = $4, rejected = $5, retried = $6, batches = $7,
    error = NULLIF($8, ''), finished_at = now()
FROM commit_mode
WHERE id = $1
