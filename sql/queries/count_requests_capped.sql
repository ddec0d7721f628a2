-- How many requests match a filter, counted up to a cap (ops.CountUpTo: the
-- console's Requests page, which says "more than N" above it): $1 to $17 are
-- filter_requests.sql's, $18 the cap plus one. The count stops at the cap, so it
-- costs at most that many index or heap rows however many match.
-- In number order, as the page's walk (filter_requests.sql): so that the count too
-- walks an index that ends with the number and stops at the cap. Left free, the
-- planner took bitmap scans that read every match first (REJECTED with E_BUSY: all
-- 300,000 REJECTED and 130,000 E_BUSY, seconds, for a count of 10,001). With a
-- created or executed bound the order is dropped (NULL): the time's index, read in
-- its own order, then stops at the cap (in number order it was read whole and
-- sorted: a day's 111,000 entries).
-- The WHERE clause is filter_requests.sql's, word for word (sql's tests check it).
SELECT count(*)
FROM (
    SELECT 1
    FROM provisioning_requests r
    WHERE ($1::text[] IS NULL OR r.life_cycle_state = ANY ($1::text[]))
      AND ($2::text[] IS NULL OR r.type = ANY ($2::text[]))
      AND ($3::text[] IS NULL OR r.priority = ANY ($3::text[]))
      AND ($4::text[] IS NULL OR CASE WHEN cardinality($4::text[]) = 1 THEN r.error_code = ($4::text[])[1] ELSE r.error_code = ANY ($4::text[]) END)
      AND ($5::text[] IS NULL OR CASE WHEN cardinality($5::text[]) = 1 THEN r.smartcard_ca_id = ($5::text[])[1] ELSE r.smartcard_ca_id = ANY ($5::text[]) END)
      AND ($6::bigint IS NULL OR r.subscription_id = $6::bigint)
      AND ($7::bigint[] IS NULL OR CASE WHEN cardinality($7::bigint[]) = 1 THEN r.source_file_id = ($7::bigint[])[1] ELSE r.source_file_id = ANY ($7::bigint[]) END)
      AND ($8::timestamptz IS NULL OR r.created_at >= $8::timestamptz)
      AND ($9::timestamptz IS NULL OR r.created_at < $9::timestamptz)
      AND ($10::timestamptz IS NULL OR r.executed_date >= $10::timestamptz)
      AND ($11::timestamptz IS NULL OR r.executed_date < $11::timestamptz)
      AND ($12::bigint = 0 OR r.number = $12::bigint)
      AND ($13::text = '' OR r.reference_number = $13::text)
      AND ($14::bigint = 0 OR r.id = $14::bigint)
      AND ($15::bigint = 0 OR r.number > $15::bigint)
      AND ($16::bigint = 0 OR r.number >= $16::bigint)
      AND ($17::bigint = 0 OR r.number <= $17::bigint)
      AND (NOT coalesce($1::text[] <@ ARRAY['PENDING'], false) OR r.number > 0)
    ORDER BY CASE WHEN $8::timestamptz IS NULL AND $9::timestamptz IS NULL AND $10::timestamptz IS NULL THEN r.number END
    LIMIT $18::bigint
) capped
