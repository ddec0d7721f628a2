-- Every card with entitlements, in id order, as a cursor that `reconcile --all`
-- fetches from (reconcile_fetch.sql): one statement planned once and read at the
-- pace of the run, where a keyset query per chunk paid planning, an index descent and
-- a round trip each time (measured: 8,400-9,400 cards/s keyset, on a loaded 2-core
-- machine). The columns are reconcile_cards.sql's. Whether a card is busy is not
-- read here but chunk by chunk, in parallel, just before its gateway query
-- (reconcile_lookup.sql): a probe per row in this one sequential statement was 40% of its
-- server CPU (4.1 of 9.6 s over 1,000,000 cards).
DECLARE reconcile_cards NO SCROLL CURSOR FOR
SELECT i.id, i.serial_number, i.ca_id,
       coalesce(s.id, 0) AS subscription_id,
       coalesce(s.number, '') AS subscription_number,
       coalesce(s.state, '') AS subscription_state,
       e.product_ids::text AS product_ids, e.stb_checked,
       coalesce(stb.serial_number, '') AS stb_serial, coalesce(stb.ca_id, '') AS stb_ca_id
FROM entitlements e
JOIN installed_items i ON i.id = e.smartcard_id
LEFT JOIN subscriptions s ON s.id = i.subscription_id
LEFT JOIN installed_items stb ON stb.id = e.stb_id
ORDER BY e.smartcard_id
