-- Marks ABANDONED the runs of job $1 left RUNNING by an instance that is gone. Only
-- run while holding the job's lock: a live run holds it for as long as it is RUNNING.
-- $2: the run that holds the lock now (0: none), which is not abandoned.
UPDATE job_runs
SET state = 'ABANDONED', finished_at = now(),
    error = 'its instance ' || instance || ' stopped while it ran (its lock was free)'
WHERE job = $1 AND state = 'RUNNING' AND id <> $2
RETURNING id
