-- Deletes the finished job_runs records older than $1 seconds, but keeps each job's
-- latest finished run, which `provisioner status` shows however old it is.
DELETE FROM job_runs
WHERE state <> 'RUNNING'
  AND coalesce(finished_at, started_at) < now() - make_interval(secs => $1)
  AND id NOT IN (SELECT max(id) FROM job_runs WHERE state <> 'RUNNING' GROUP BY job)
