-- The audit trail, newest first: $1 operator ('' for any), $2 action ('' for any),
-- $3 since (NULL for ever), at most $4 rows.
SELECT id, at, operator, action, command, filters::text AS filters, touched, numbers
FROM audit_log
WHERE ($1::text = '' OR operator = $1::text)
  AND ($2::text = '' OR action = $2::text)
  AND ($3::timestamptz IS NULL OR at >= $3::timestamptz)
ORDER BY at DESC, id DESC
LIMIT $4
