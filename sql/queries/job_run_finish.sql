-- Records how run $1 ended: $2 state, $3 counts (JSON), $4 error ('' for none). By id
-- alone: a run that was taken for abandoned while it waited for its lock is put right.
UPDATE job_runs
SET state = $2, counts = $3::jsonb, error = NULLIF($4, ''), finished_at = now()
WHERE id = $1
