-- Releases run $2's lock of job $1; no row when the run no longer held it.
DELETE FROM job_locks WHERE job = $1 AND run_id = $2 RETURNING run_id
