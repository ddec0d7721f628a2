-- How many requests match a filter, counted up to a cap (ops.CountUpTo: the
-- console's Requests page, which says "more than N" above it): $1 to $16 are
-- filter_requests.sql's, $17 the cap plus one. The count stops at the cap, so it
-- costs at most that many index or heap rows however many match.
-- The WHERE clause is filter_requests.sql's, word for word (sql's tests check it).
SELECT count(*)
FROM (
    SELECT 1
    FROM provisioning_requests r
    WHERE ($1::text[] IS NULL OR r.life_cycle_state = ANY ($1::text[]))
      AND ($2::text[] IS NULL OR r.type = ANY ($2::text[]))
      AND ($3::text[] IS NULL OR r.priority = ANY ($3::text[]))
      AND ($4::text[] IS NULL OR r.error_code = ANY ($4::text[]))
      AND ($5::text = '' OR r.smartcard_ca_id = $5::text
           OR r.smartcard_ca_id = (SELECT i.ca_id FROM installed_items i WHERE i.serial_number = $5::text AND i.kind = 'SMARTCARD'))
      AND ($6::text = '' OR r.subscription_id = (SELECT x.id FROM subscriptions x WHERE x.number = $6::text))
      AND ($7::text = '' OR r.source_file_id IN (
           SELECT g.id FROM import_files g
           WHERE g.id::text = $7::text OR g.name = $7::text OR g.name LIKE $8::text))
      AND ($9::timestamptz IS NULL OR r.created_at >= $9::timestamptz)
      AND ($10::timestamptz IS NULL OR r.created_at < $10::timestamptz)
      AND ($11::timestamptz IS NULL OR r.executed_date >= $11::timestamptz)
      AND ($12::timestamptz IS NULL OR r.executed_date < $12::timestamptz)
      AND ($13::bigint = 0 OR r.number = $13::bigint)
      AND ($14::text = '' OR r.reference_number = $14::text)
      AND ($15::bigint = 0 OR r.id = $15::bigint)
      AND ($16::bigint = 0 OR r.number > $16::bigint)
    LIMIT $17::bigint
) capped
