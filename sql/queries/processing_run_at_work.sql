-- Whether a processing run is at work: some PENDING request is claimed under a lease
-- that holds. Housekeeping asks it after each slice of its deletions, to give way
-- to the run (jobs.deleteRequests). From pending_queue (migration 000035), narrow
-- and in memory: it stops at the first claimed request, and when none is, reads a
-- table of the queue's size (milliseconds for tens of thousands PENDING).
SELECT EXISTS (SELECT FROM pending_queue WHERE lease_expires_at > now())
