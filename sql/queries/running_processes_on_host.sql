-- The RUNNING processing runs of host $1 other than run $2: the run checks whether
-- their processes are alive (dispatcher.markDead).
SELECT id, pid FROM processes WHERE state = 'RUNNING' AND host = $1 AND id <> $2
