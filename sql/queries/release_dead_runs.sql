-- Gives back the requests held by runs $1 (ids), which dispatcher.markDead has just
-- found dead: their process is gone from this host, so nothing of theirs can still
-- be written back (the write-back is guarded on claimed_by), and waiting for their
-- leases only delays the requests (5 minutes by default: an importer killed while
-- sending its process_immediately rows held them that long; chaos scenario 8).
-- A batch such a run had in flight is sent again under the same command_id, which
-- the gateway answers as a replay. "= 'PENDING'" on purpose, as in
-- release_leftovers.sql: found through the partial index of the pending rows.
UPDATE provisioning_requests
SET claimed_by = NULL, lease_expires_at = NULL
WHERE life_cycle_state = 'PENDING' AND claimed_by = ANY($1::bigint[])
