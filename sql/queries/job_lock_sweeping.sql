-- Whether job $1's lock is held by a sweep of abandoned runs (run 0), which lasts a
-- few statements: a run that finds it so waits for it rather than skip its tick.
SELECT EXISTS (SELECT 1 FROM job_locks WHERE job = $1 AND run_id = 0 AND expires_at >= now())
