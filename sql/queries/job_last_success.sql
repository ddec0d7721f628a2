-- For each job named in $1 (text[]), when its last run that did its work ended:
-- SUCCEEDED, or REJECTED (the run worked; some of its input was refused), by any
-- instance, the scheduler's or `provisioner run` (system cron). NULL when none did.
-- One backward walk of job_runs_latest (job, started_at DESC) per job.
SELECT name AS job,
       (SELECT r.finished_at FROM job_runs r
        WHERE r.job = name AND r.state IN ('SUCCEEDED', 'REJECTED')
        ORDER BY r.started_at DESC
        LIMIT 1) AS finished_at
FROM unnest($1::text[]) AS name
