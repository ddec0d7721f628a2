-- The last run of each job that was not SKIPPED (a skipped tick says only that the
-- run before it still ran, and that run is the one to show).
-- The jobs are found by skipping through job_runs_latest (job, started_at DESC) from
-- one job to the next, and each job's last run is the first of its entries: a few
-- index probes per job. DISTINCT ON read the whole ledger, 90 days of a run a minute
-- (260,000 rows: `provisioner status` and the console's overview at every load).
WITH RECURSIVE jobs (job) AS (
    (SELECT job FROM job_runs ORDER BY job LIMIT 1)
    UNION ALL
    SELECT (SELECT j.job FROM job_runs j WHERE j.job > jobs.job ORDER BY j.job LIMIT 1)
    FROM jobs
    WHERE jobs.job IS NOT NULL
)
SELECT l.job, l.tick, l.trigger, l.instance, l.state, l.started_at, l.finished_at, l.counts, l.error
FROM jobs
CROSS JOIN LATERAL (
    SELECT r.job, r.tick, r.trigger, r.instance, r.state, r.started_at, r.finished_at,
           r.counts, coalesce(r.error, '') AS error
    FROM job_runs r
    WHERE r.job = jobs.job AND r.state <> 'SKIPPED'
    ORDER BY r.started_at DESC, r.id DESC
    LIMIT 1
) l
ORDER BY l.job
