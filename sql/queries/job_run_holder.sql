-- The run of job $1 that holds its lock, seen from run $2 that could not take it.
SELECT id, instance, started_at FROM job_runs
WHERE job = $1 AND state = 'RUNNING' AND id <> $2
ORDER BY id DESC
LIMIT 1
