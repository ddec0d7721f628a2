-- What a reconciliation's worker asks of the database for one chunk of cards, in one
-- statement prepared once a run (reconcile.chunkLookup): planning each of two small
-- statements cost about as much as running them, a chunk at a time. Rows 'busy':
-- the cards of $1 (CA ids) with a PENDING request now (in flight or not: their state
-- is about to change), one probe of the card_queue index (PENDING only) per card.
-- Rows 'item': the serial numbers of the installed items $2 (CA ids: the STBs the
-- gateway pairs drifted cards with), for the drift report. Either array may be empty.
SELECT DISTINCT 'busy' AS what, smartcard_ca_id AS ca_id, '' AS serial_number
FROM provisioning_requests
WHERE smartcard_ca_id = ANY ($1::text[]) AND life_cycle_state = 'PENDING'
UNION ALL
SELECT 'item', i.ca_id, i.serial_number
FROM installed_items i
WHERE i.ca_id = ANY ($2::text[])
