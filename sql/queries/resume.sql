-- Resumes $1 (a job's name, or 'queue'): returns the pause it ended, none if it was
-- not paused.
DELETE FROM pauses WHERE target = $1
RETURNING target, paused_at, paused_by, reason
