-- The error codes of the requests rejected since the start of $1's minute (UTC),
-- most frequent first, at most $2: from their counts by the minute (rejected_counts,
-- migration 000030), not from the requests, which at 10 million requests cost a page
-- read each (86,000 rejections in a day of the history bench: seconds). The counts
-- keep two days: $1 within the last day. Not the rest of $1's minute from the table:
-- on statistics that predate the rejections (an import's refresh sees its PENDING rows
-- alone) the planner walked every REJECTED request for it by number (250 ms for
-- 42,000).
SELECT error_code, sum(n)::bigint AS count
FROM rejected_counts
WHERE minute >= date_trunc('minute', $1::timestamptz, 'UTC')
GROUP BY error_code
HAVING sum(n) > 0
ORDER BY count DESC, error_code
LIMIT $2
