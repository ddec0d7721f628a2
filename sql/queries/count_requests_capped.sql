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
-- sorted: a day's 111,000 entries). With a card or a subscription too (their two
-- indexes each, a few rows: filter_requests.sql), where the walk filtered by either
-- read the whole table on statistics that knew nothing of the column.
-- The WHERE clause is filter_requests.sql's: sql.go puts it in place of {{filter}}.
SELECT count(*)
FROM (
    SELECT 1
    FROM provisioning_requests r
    WHERE {{filter}}
    ORDER BY CASE WHEN $8::timestamptz IS NULL AND $9::timestamptz IS NULL AND $10::timestamptz IS NULL
                   AND $5::text[] IS NULL AND $6::bigint IS NULL THEN r.number END
    LIMIT $18::bigint
) capped
