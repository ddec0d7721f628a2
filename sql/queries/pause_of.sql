-- The pause of $1 (a job's name, or 'queue'), if any: read by the scheduler's every
-- tick and the processing run's every claim (a primary key lookup).
SELECT target, paused_at, paused_by, reason FROM pauses WHERE target = $1
