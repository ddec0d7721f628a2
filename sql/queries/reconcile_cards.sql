-- One chunk of the cards to reconcile, by keyset on the smartcard's id: $1 after
-- this id, $2 at most this many, $3 only these ids (NULL: every card with
-- entitlements). For each: the card, its subscription and its state, the CRM's
-- expected products (ids) and STB. Whether a card is busy is asked chunk by chunk
-- (reconcile_lookup.sql), as for reconcile_cursor.sql.
-- The chunk is taken from entitlements first (MATERIALIZED): joined whole, the
-- planner merge-joined installed_items from its first row at every chunk, a scan
-- that grew with the keyset (measured: 435 ms a chunk 20,000 cards in, 4,000
-- cards/s over a 50,000-card fleet).
WITH chunk AS MATERIALIZED (
    SELECT e.smartcard_id, e.product_ids, e.stb_id, e.stb_checked
    FROM entitlements e
    WHERE e.smartcard_id > $1
      AND ($3::bigint[] IS NULL OR e.smartcard_id = ANY ($3::bigint[]))
    ORDER BY e.smartcard_id
    LIMIT $2
)
SELECT i.id, i.serial_number, i.ca_id,
       coalesce(s.id, 0) AS subscription_id,
       coalesce(s.number, '') AS subscription_number,
       coalesce(s.state, '') AS subscription_state,
       e.product_ids::text AS product_ids, e.stb_checked,
       coalesce(stb.serial_number, '') AS stb_serial, coalesce(stb.ca_id, '') AS stb_ca_id
FROM chunk e
JOIN installed_items i ON i.id = e.smartcard_id
LEFT JOIN subscriptions s ON s.id = i.subscription_id
LEFT JOIN installed_items stb ON stb.id = e.stb_id
ORDER BY e.smartcard_id
