-- Takes job $1's lock for run $2 of instance $3 for $4 seconds, if it is free: no
-- row, a lease run out, or a holder named in $5 (instances this host knows are dead).
-- One row when taken, none when held. The row lock of the upsert makes two takers
-- wait for each other: only one gets it.
INSERT INTO job_locks AS l (job, run_id, instance, expires_at)
VALUES ($1, $2, $3, now() + make_interval(secs => $4))
ON CONFLICT (job) DO UPDATE
SET run_id = EXCLUDED.run_id, instance = EXCLUDED.instance, expires_at = EXCLUDED.expires_at
WHERE l.expires_at < now() OR l.instance = ANY($5::text[])
RETURNING run_id
