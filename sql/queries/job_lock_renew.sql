-- Renews run $2's lock of job $1 for $3 seconds; no row when the run no longer holds
-- it (its lease ran out and another instance took it).
UPDATE job_locks SET expires_at = now() + make_interval(secs => $3)
WHERE job = $1 AND run_id = $2
RETURNING run_id
