-- The run ledger (job_runs), newest first: of job $1 ('' for every job), before id $2
-- (0: from the newest; keyset paging), at most $3. The console's Runs page.
SELECT id, job, tick, trigger, instance, state, started_at, finished_at, counts,
       coalesce(error, '') AS error
FROM job_runs
WHERE ($1::text = '' OR job = $1::text) AND ($2::bigint = 0 OR id < $2::bigint)
ORDER BY id DESC
LIMIT $3
