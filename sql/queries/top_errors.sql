-- The error codes of the requests rejected since $1, most frequent first, at most $2.
SELECT coalesce(error_code, '') AS error_code, count(*) AS count
FROM provisioning_requests
WHERE life_cycle_state = 'REJECTED' AND executed_date >= $1
GROUP BY error_code
ORDER BY count(*) DESC, error_code
LIMIT $2
