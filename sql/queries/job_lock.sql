-- Takes job $1's lock on this session if it is free: held for the whole run, so that
-- a job never overlaps itself, whichever instance runs it. Released by job_unlock.sql
-- or by the session's end (a dead instance's lock goes with its connection).
SELECT pg_try_advisory_lock(hashtextextended('provisioner job ' || $1, 0))
