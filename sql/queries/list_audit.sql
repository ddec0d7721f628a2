-- The audit trail, newest first: $1 operator ('' for any), $2 action ('' for any),
-- $3 since (NULL for ever), at most $4 rows, older than the entry at $5 with id $6
-- (NULL: from the newest; keyset paging, the console's Audit page).
SELECT id, at, operator, action, command, filters::text AS filters, touched, numbers
FROM audit_log
WHERE ($1::text = '' OR operator = $1::text)
  AND ($2::text = '' OR action = $2::text)
  AND ($3::timestamptz IS NULL OR at >= $3::timestamptz)
  AND ($5::timestamptz IS NULL OR (at, id) < ($5::timestamptz, $6::bigint))
ORDER BY at DESC, id DESC
LIMIT $4
