-- The last run of each job that was not SKIPPED (a skipped tick says only that the
-- run before it still ran, and that run is the one to show).
SELECT DISTINCT ON (job) job, tick, trigger, instance, state, started_at, finished_at,
       counts, coalesce(error, '') AS error
FROM job_runs
WHERE state <> 'SKIPPED'
ORDER BY job, started_at DESC, id DESC
