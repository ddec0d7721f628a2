-- The error codes of the requests rejected since $1, most frequent first, at most $2.
-- From their counts by the minute (rejected_counts, migration 000030) for the
-- minutes after $1's, and from the requests themselves for the rest of $1's minute
-- (through provisioning_requests_rejected: a minute's rejections at most), so that
-- the count is exact without reading a day of rejections (at 10 million requests a
-- page read each: seconds). The counts keep two days: $1 within the last day.
SELECT error_code, sum(n)::bigint AS count
FROM (
    SELECT error_code, n
    FROM rejected_counts
    WHERE minute >= date_trunc('minute', $1::timestamptz, 'UTC') + interval '1 minute'
    UNION ALL
    SELECT coalesce(error_code, ''), 1
    FROM provisioning_requests
    WHERE life_cycle_state = 'REJECTED' AND executed_date >= $1::timestamptz
      AND executed_date < date_trunc('minute', $1::timestamptz, 'UTC') + interval '1 minute'
) r
GROUP BY error_code
HAVING sum(n) > 0
ORDER BY count DESC, error_code
LIMIT $2
