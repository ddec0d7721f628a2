-- The latest scheduled tick of job $1 that any instance claimed: missed ticks are
-- the schedule's ticks after it.
SELECT max(tick) FROM job_runs WHERE job = $1 AND trigger <> 'MANUAL'
