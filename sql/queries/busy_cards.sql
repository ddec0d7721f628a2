-- Which of the cards $1 (CA ids) have a PENDING request now: checked again just
-- before their corrections are created, as the cards were read a while before.
SELECT DISTINCT smartcard_ca_id FROM provisioning_requests
WHERE smartcard_ca_id = ANY ($1::text[]) AND life_cycle_state = 'PENDING'
