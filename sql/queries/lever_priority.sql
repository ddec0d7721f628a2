-- Sets the priority of requests $1 (ids, locked by lever_lock.sql) at $2 to $3
-- (EXPRESS or REGULAR). Their card's order is unchanged: an EXPRESS request behind
-- others of its card promotes the card's head (claim_requests.sql).
UPDATE provisioning_requests
SET priority = $3, claimed_by = NULL, lease_expires_at = NULL, updated_at = $2
WHERE id = ANY ($1::bigint[])
RETURNING number
