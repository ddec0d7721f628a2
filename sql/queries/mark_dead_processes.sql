-- Marks FAILED the runs $1 (ids), still RUNNING, whose process is gone from this host:
-- killed, or ended while the database was away and could not record its end.
UPDATE processes
SET state = 'FAILED', finished_at = now(),
    error = 'its process ' || host || ':' || pid || ' is gone: it ended without recording its end (killed, or the database was away); found by the next run'
WHERE id = ANY($1::bigint[]) AND state = 'RUNNING'
RETURNING id
