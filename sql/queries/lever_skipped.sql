-- Why a lever left requests $1 (ids) alone: their state and lease as they are now
-- (ops/levers.go names each: in flight, or no longer PENDING).
SELECT r.id, r.number, r.life_cycle_state, r.claimed_by, r.lease_expires_at
FROM provisioning_requests r
WHERE r.id = ANY ($1::bigint[])
ORDER BY r.number
