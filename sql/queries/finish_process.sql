-- $1 id, $2 state, $3 claimed, $4 completed, $5 rejected, $6 retried, $7 batches, $8 error.
UPDATE processes
SET state = $2, claimed = $3, completed = $4, rejected = $5, retried = $6, batches = $7,
    error = NULLIF($8, ''), finished_at = now()
WHERE id = $1
