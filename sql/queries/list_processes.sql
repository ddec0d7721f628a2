-- The processing runs (processes rows named $1), newest first: those before id $2
-- (0: from the newest; keyset paging), at most $3. The console's Runs page.
SELECT id, host, pid, state, claimed, completed, rejected, retried, batches,
       coalesce(error, '') AS error, started_at, finished_at
FROM processes
WHERE name = $1 AND ($2::bigint = 0 OR id < $2::bigint)
ORDER BY id DESC
LIMIT $3
