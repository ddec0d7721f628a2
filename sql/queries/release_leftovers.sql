-- Gives back every request run $1 still holds once it has stopped, after one of its
-- claims was cancelled (dispatcher releaseLeftovers): the rows of a claim that had
-- committed when the cancel came, which the run never saw and so never sent.
-- "= 'PENDING'" on purpose: the rows are found through a partial index of the
-- pending ones, not a scan of the whole table (claimed_by has no index).
UPDATE provisioning_requests
SET claimed_by = NULL, lease_expires_at = NULL
WHERE life_cycle_state = 'PENDING' AND claimed_by = $1
