-- The head of smartcard $1's queue: its PENDING request with the lowest sequence
-- number, the only one of the card the claim may take (claim_requests.sql); and how
-- many of the card's PENDING requests come before sequence number $2 (the request
-- whose wait ops.WaitFor explains). Two probes of provisioning_requests_card_queue.
SELECT h.number, h.scheduled_date, h.next_attempt_at, h.claimed_by, h.lease_expires_at,
       h.attempts, coalesce(h.error_code, '') AS error_code,
       h.held_at, coalesce(h.held_by, '') AS held_by, coalesce(h.held_reason, '') AS held_reason,
       (SELECT count(*) FROM provisioning_requests p
        WHERE p.smartcard_ca_id = $1 AND p.life_cycle_state = 'PENDING' AND p.sequence_number < $2) AS ahead
FROM provisioning_requests h
WHERE h.smartcard_ca_id = $1 AND h.life_cycle_state = 'PENDING'
ORDER BY h.sequence_number
LIMIT 1
