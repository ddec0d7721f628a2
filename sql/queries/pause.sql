-- Pauses $1 (a job's name, or 'queue') for operator $2, reason $3, at $4. Pausing
-- what is paused already keeps the first pause's time, and takes the new operator
-- and reason. Returns whether it was paused before.
INSERT INTO pauses AS p (target, paused_by, reason, paused_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (target) DO UPDATE SET paused_by = EXCLUDED.paused_by, reason = EXCLUDED.reason
RETURNING (xmax <> 0) AS existed
