-- The latest processing run (processes row named $1), however it was started: the
-- scheduler, `provisioner run process`, a one-off `provisioner process`, or the
-- importer's and the Web API's process_immediately. None: no row.
SELECT id, host, pid, state, claimed, completed, rejected, retried, batches,
       coalesce(error, '') AS error, started_at, finished_at
FROM processes
WHERE name = $1
ORDER BY id DESC
LIMIT 1
