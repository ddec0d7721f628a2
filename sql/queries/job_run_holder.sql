-- The run of job $1 that holds its lock, seen from run $2 that could not take it:
-- the RUNNING one, or else the latest that ran (it has recorded its end and is about
-- to release the lock).
SELECT id, instance, started_at, state = 'RUNNING' AS running FROM job_runs
WHERE job = $1 AND id <> $2 AND state <> 'SKIPPED'
ORDER BY state = 'RUNNING' DESC, id DESC
LIMIT 1
