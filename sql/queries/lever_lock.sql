-- Locks, for a lever on requests (ops/levers.go), those of $1 (ids) that it may
-- change: PENDING and not in flight (no lease, or an expired one). In id order, so
-- that two levers at once do not deadlock. FOR UPDATE waits for a claim that holds a
-- row at this moment, then re-checks the row at its latest version: a request the
-- claim took is then leased, and left out. Rows left out are not locked: a lever never
-- delays the write-back of a request in flight. By id (the primary key), the state
-- tested as "not settled", as the claim does (see claim_requests.sql).
SELECT r.id, r.number, r.priority, r.held_at IS NOT NULL AS held
FROM provisioning_requests r
WHERE r.id = ANY ($1::bigint[])
  AND r.life_cycle_state NOT IN ('COMPLETED', 'REJECTED')
  AND (r.lease_expires_at IS NULL OR r.lease_expires_at < now())
ORDER BY r.id
FOR UPDATE
