-- Marks FAILED the processing runs that died without a word (kill -9, power cut,
-- lost host): still RUNNING more than $1 seconds after their start, and holding no
-- live lease. A live run holds leases whenever it has work in flight and ends when
-- it finds none; $1 is at least twice the lease. Should a live run ever be caught,
-- its own end overwrites this (finish_process.sql is by id).
UPDATE processes p
SET state = 'FAILED', finished_at = now(),
    error = 'abandoned: still RUNNING long after its start, with no live lease: the run died (found by housekeeping)'
WHERE p.state = 'RUNNING'
  AND p.started_at < now() - make_interval(secs => $1)
  AND NOT EXISTS (
      SELECT 1 FROM provisioning_requests r
      WHERE r.claimed_by = p.id AND r.lease_expires_at > now()
  )
RETURNING id
