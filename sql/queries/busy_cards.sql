-- Which of the cards $1 (CA ids) have a PENDING request now (in flight or not: the
-- card is busy, its state about to change): asked of each chunk of cards just
-- before its gateway query, and of its drifted cards again just before their
-- corrections are created. One probe of the card_queue index (PENDING only) per card.
SELECT DISTINCT smartcard_ca_id FROM provisioning_requests
WHERE smartcard_ca_id = ANY ($1::text[]) AND life_cycle_state = 'PENDING'
