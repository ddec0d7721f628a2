-- Claims tick $2 of job $1 for instance $4 (trigger $3): the first instance to insert
-- a scheduled tick runs it; the others get no row. MANUAL runs never conflict.
INSERT INTO job_runs (job, tick, trigger, instance)
VALUES ($1, $2, $3, $4)
ON CONFLICT (job, tick) WHERE trigger <> 'MANUAL' DO NOTHING
RETURNING id
